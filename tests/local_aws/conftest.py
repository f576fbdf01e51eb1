"""One LocalAws for the package (starting is ~0.5 s, but moto's state is process-global anyway)."""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kops_local.aws import LocalAws
from tests.local_aws.sample_handlers import RECORDINGS_DIR

# Where the sample handlers, in their containers, record what they received (inherited by every container).
os.environ.setdefault(RECORDINGS_DIR, tempfile.mkdtemp(prefix="local-aws-recordings-"))

HANDLERS = "tests.local_aws.sample_handlers"
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="package")
def local_aws() -> Iterator[LocalAws]:
    # Retry waits x0.01: a Retry with IntervalSeconds=2 waits 20 ms here (test_step_functions has a real one).
    shared = LocalAws.running()
    if shared is not None:
        # A session fixture elsewhere owns the process's LocalAws: borrow it, with our scale.
        previous_scale = shared.retry_interval_scale
        shared.retry_interval_scale = 0.01
        yield shared
        shared.retry_interval_scale = previous_scale
        return
    aws = LocalAws(retry_interval_scale=0.01)
    aws.start()
    yield aws
    aws.stop()


@pytest.fixture(scope="package")
def role_arn(local_aws: LocalAws) -> str:
    iam = local_aws.client("iam")
    role = iam.create_role(RoleName="local-aws-tests", AssumeRolePolicyDocument=json.dumps(ROLE_POLICY))
    return role["Role"]["Arn"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tiny_zip() -> bytes:
    # The runtime imports the handler from this process; the zip only satisfies CreateFunction.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


@pytest.fixture
def make_function(local_aws: LocalAws, role_arn: str) -> Callable[..., str]:
    """Create a python3.12 function running `sample_handlers.<handler>`; returns its ARN."""

    def make(handler: str, *, timeout: int = 3, memory: int = 256, env: dict[str, str] | None = None) -> str:
        response = local_aws.client("lambda").create_function(
            FunctionName=unique(handler.replace("_", "-")),
            Runtime="python3.12",
            Role=role_arn,
            Handler=f"{HANDLERS}.{handler}",
            Code={"ZipFile": tiny_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": env or {}},
        )
        return response["FunctionArn"]

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0) -> Any:
    """The predicate's first truthy answer. `timeout` is a hang guard (generous: a loaded machine is slow, not
    wrong); nothing here bounds how long the condition takes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"hung: condition not met after {timeout} s")
