"""Rollback and offboarding logic, in-process: seeded clusters (moto + one Kubernetes API server each,
the fixtures of tests/cluster) and, for the IAM side, a moto account with AWS managed policies."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kops_lambda.adapters.aws import client as cached_client
from kops_local.warm_state import forget_warm_containers
from tests.cluster.conftest import aws_account, make_cluster, release_test_clusters  # noqa: F401  (fixtures, re-exported)

REGION = "us-east-1"
ACCOUNT = "123456789012"
_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def create_registry(dynamodb: Any, name: str = "registry") -> Any:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "cluster_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "cluster_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return boto3.resource("dynamodb", region_name=REGION).Table(name)


@pytest.fixture
def iam_account() -> Iterator[Callable[[str], Any]]:
    """A fresh moto account with AWS managed policies (onboarding attaches them); yields a client factory."""
    yield from _account(managed_policies=True)


@pytest.fixture
def account() -> Iterator[Callable[[str], Any]]:
    """A fresh moto account without AWS managed policies (seconds faster to build)."""
    yield from _account(managed_policies=False)


def _account(*, managed_policies: bool) -> Iterator[Callable[[str], Any]]:
    saved = {key: os.environ.get(key) for key in (*_AWS_ENV, "MOTO_IAM_LOAD_MANAGED_POLICIES")}
    os.environ.update({**_AWS_ENV, "MOTO_IAM_LOAD_MANAGED_POLICIES": str(managed_policies).lower()})
    cached_client.cache_clear()
    try:
        forget_warm_containers()  # handlers' cached clients may point at a stopped local system
        with mock_aws():
            yield lambda service: boto3.client(service, region_name=REGION)
    finally:
        cached_client.cache_clear()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
