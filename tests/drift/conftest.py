"""The drift check on the local system: moto server, the default template (the drift check is always on), one
cluster onboarded through the synthesized state machine. A package of its own: one local system per process."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kops_local.system import LocalSystem
from tests.e2e.conftest import RETRY_INTERVAL_SCALE
from tests.e2e.secret_scan import assert_no_secret_leaks


@pytest.fixture(scope="package")
def local_system(template_path: Path) -> Iterator[LocalSystem]:
    with LocalSystem(template=template_path, retry_interval_scale=RETRY_INTERVAL_SCALE) as system:
        yield system
        # The drift check reads the admin kubeconfig and describes secrets: none may leak into a log or a result.
        assert_no_secret_leaks(system)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/drift/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
