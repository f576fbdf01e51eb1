"""Unit fixtures: moto in-process (real AWS semantics, no network)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kops_local.warm_state import forget_warm_containers

REGION = "us-east-1"


@contextmanager
def _moto(load_managed_policies: bool) -> Iterator[Any]:
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true" if load_managed_policies else "false"
    forget_warm_containers()  # handlers' cached clients may point at a local system that is gone
    try:
        with mock_aws():
            yield lambda service: boto3.client(
                service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
            )
    finally:
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


@pytest.fixture
def aws() -> Iterator[Any]:
    """A fresh moto account; yields a client factory."""
    with _moto(load_managed_policies=False) as factory:
        yield factory


@pytest.fixture
def aws_iam() -> Iterator[Any]:
    """Like `aws`, with AWS managed policies loaded (slower: only where they are attached)."""
    with _moto(load_managed_policies=True) as factory:
        yield factory
