"""Suite-wide fixtures: one synthesis of the CDK app per test session."""

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.app_builder import synthesize
from tests import kube_backends


def pytest_addoption(parser: pytest.Parser) -> None:
    kube_backends.add_option(parser)


@pytest.fixture(scope="session")
def template_path() -> Path:
    """The stack's template, synthesized once with the real bundling into cdk.out."""
    return synthesize()


@pytest.fixture(scope="session")
def template_json(template_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template_path.read_text())
    return loaded
