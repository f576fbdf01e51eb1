"""End-to-end fixtures: the local system (moto server + emulators) running the synthesized stack."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kops_local.system import LocalSystem
from tests.e2e.secret_scan import assert_no_secret_leaks

# Retry waits of the state machine are real sleeps in moto's interpreter: shorten them here.
RETRY_INTERVAL_SCALE = 0.01


# Package scope: the suites under tests/local_aws start their own LocalAws (one per process at a time).
# Its teardown scans everything the tests that used it produced for secret values (an error if one leaked).
@pytest.fixture(scope="package")
def local_system(template_path: Path) -> Iterator[LocalSystem]:
    with LocalSystem(template=template_path, retry_interval_scale=RETRY_INTERVAL_SCALE) as system:
        yield system
        assert_no_secret_leaks(system)


@pytest.fixture
def short_visibility(local_system: LocalSystem) -> Iterator[None]:
    """Retries after 1 s instead of the queue's 150 s (kept above the function timeout in AWS)."""
    sqs = local_system.aws.client("sqs")
    url = local_system.output("SpotEventQueueUrl")
    original = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes=original)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
