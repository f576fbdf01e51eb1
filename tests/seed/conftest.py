"""Shared helpers for the seed tests: boto3 clients for moto and API clients for the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import moto
import pytest
from kubernetes import client

from kops_local.kube import KubeApiEmulator, RecordedRequest
from kops_local.seed import ClusterSpec, SeededAwsCluster, SeededKubeCluster, seed_aws, seed_kube

REGION = "us-east-1"
BUCKET = "example-kops-state-store"
TOKEN = "seed-test-token"  # the emulator accepts only this bearer token


def aws_client(service: str, region: str = REGION) -> Any:
    # Explicit fake credentials: moto needs some, and the tests must never pick up real ones.
    factory: Any = boto3.client  # the service name is dynamic; the stubs only type literal names
    return factory(service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


def api_client(url: str, token: str = TOKEN) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"BearerToken": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(configuration)


def seed_aws_cluster(text: str, *, region: str = REGION, bucket: str = BUCKET) -> SeededAwsCluster:
    return seed_aws(
        ec2=aws_client("ec2", region),
        autoscaling=aws_client("autoscaling", region),
        s3=aws_client("s3", region),
        spec=ClusterSpec.parse(text),
        region=region,
        state_store_bucket=bucket,
    )


@dataclass
class SeededCluster:
    spec: ClusterSpec
    aws: SeededAwsCluster
    kube: SeededKubeCluster
    emulator: KubeApiEmulator
    api: client.ApiClient
    requests: list[RecordedRequest]  # what seed_kube asked the API server (its time is a bench figure)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)


@pytest.fixture(scope="module")
def moto_account() -> Iterator[None]:
    with moto.mock_aws():
        yield


@pytest.fixture(scope="module")
def seeded(moto_account: None) -> Iterator[Any]:
    """Seed a cluster per spec text (once per module): moto for AWS, its own emulator for Kubernetes.

    Each cluster needs its own API server (node names repeat across VPCs), so one emulator is started
    per distinct spec and reused by every test of the module that asks for it.
    """
    clusters: dict[str, SeededCluster] = {}

    def get(text: str) -> SeededCluster:
        if text not in clusters:
            aws = seed_aws_cluster(text)
            emulator = KubeApiEmulator(tokens=[TOKEN], name=aws.name)
            api = api_client(emulator.start())
            kube = seed_kube(api, aws.spec, aws)
            clusters[text] = SeededCluster(aws.spec, aws, kube, emulator, api, emulator.requests)
        return clusters[text]

    yield get
    for cluster in clusters.values():
        cluster.api.close()
        cluster.emulator.stop()
