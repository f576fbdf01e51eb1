"""The scheduled access-key rotation on the local system: moto server, the stack synthesized with the rotation
on (and its notification topic), onboarded clusters. A package of its own: one local system per process at a
time, and tests/e2e keeps the default template (no rotation)."""

from collections.abc import Iterator

import pytest

from kops_local.system import LocalSystem
from tests.e2e.conftest import RETRY_INTERVAL_SCALE
from tests.e2e.secret_scan import assert_no_secret_leaks
from tests.rotation.support import rotation_template


@pytest.fixture(scope="package")
def local_system() -> Iterator[LocalSystem]:
    with LocalSystem(template=rotation_template(), retry_interval_scale=RETRY_INTERVAL_SCALE) as system:
        yield system
        # The rotated keys' secrets are secret values like any other: none may be in a log or an output.
        assert_no_secret_leaks(system)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/rotation/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
