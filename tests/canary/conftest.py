"""The Spot canary on the local system with the real control plane (SelfSubjectAccessReview, token
validation and RBAC are the real kube-apiserver's): moto server, the synthesized stack, onboarded clusters."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kops_local.system import LocalSystem
from tests.e2e.secret_scan import assert_no_secret_leaks


@pytest.fixture(scope="package")
def local_system(template_path: Path) -> Iterator[LocalSystem]:
    with LocalSystem(template=template_path, retry_interval_scale=0.01, kube="real") as system:
        yield system
        # The drainer tokens (renewed ones included) are secret values like any other.
        assert_no_secret_leaks(system)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/canary/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
