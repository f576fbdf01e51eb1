"""Seeded kOps clusters for the in-cluster steps: moto (in-process) for AWS, one Kubernetes API server per
cluster over HTTP (the real control plane or the emulator, by `--kube`), a kubeconfig secret pointing at it,
and the step's inputs."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from kubernetes import client as k8s
from moto import mock_aws

from kops_lambda.adapters.aws import client as cached_client
from kops_lambda.adapters.kube import BearerToken, KubeClient
from kops_lambda.constants import kubeconfig_secret_name
from kops_lambda.logic.discovery import discover_cluster
from kops_lambda.models.onboarding import ClusterFacts, OnboardInput
from kops_local.kube import RecordedRequest
from kops_local.kube.served import ServedKubeApi
from kops_local.seed import ClusterSpec, SeededAwsCluster, seed_aws, seed_kube
from tests.kube_backends import start_kube

REGION = "us-east-1"
BUCKET = "cluster-tests-state-store"
STATE_STORE = f"s3://{BUCKET}"
TOKEN = "cluster-test-token"
API_KEY = "agent-api-key-5f0c1d9e7a2b4c6d8e0f1a3b"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def aws_client(service: str) -> Any:
    factory: Any = boto3.client
    return factory(service, region_name=REGION)


@dataclass
class Cluster:
    spec: ClusterSpec
    aws: SeededAwsCluster
    kube: ServedKubeApi
    api: KubeClient  # our transport, what the functions under test take
    admin: k8s.ApiClient  # the official client, for seeding and independent checks
    kubeconfig_secret_arn: str
    agent_api_key_secret_arn: str
    facts: ClusterFacts

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def account(self) -> str:
        return self.aws.account_id

    @property
    def user_name(self) -> str:
        return f"cast-kops-{self.name}"

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.user_name}"

    @property
    def spot_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/kops-onboard-spot-handler"

    def onboard_input(self, **overrides: Any) -> OnboardInput:
        values = {
            "cluster_name": self.name,
            "region": REGION,
            "kubeconfig_secret_arn": self.kubeconfig_secret_arn,
            "agent_api_key_secret_arn": self.agent_api_key_secret_arn,
            "state_store": STATE_STORE,
        }
        return OnboardInput.model_validate({**values, **overrides})

    def configmap(self, name: str) -> dict[str, Any]:
        return self.object("v1/configmaps", "kube-system", name)

    def object(self, ref: str, namespace: str | None, name: str) -> dict[str, Any]:
        found = self.find(ref, namespace, name)
        assert found is not None, f"{ref} {namespace}/{name} does not exist"
        return found

    def find(self, ref: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.kube.store.get(ref, namespace, name)

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.kube.requests if r.method in WRITES]


@pytest.fixture(scope="module")
def aws_account() -> Iterator[None]:
    """One moto account per module (clusters get distinct names), with fake credentials in the env."""
    saved = {key: os.environ.get(key) for key in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    cached_client.cache_clear()
    with mock_aws():
        aws_client("s3").create_bucket(Bucket=BUCKET)
        yield
    cached_client.cache_clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_NAMES = itertools.count(1)
MakeCluster = Callable[..., Cluster]


@pytest.fixture(scope="module")
def make_cluster(aws_account: None, pytestconfig: pytest.Config) -> Iterator[Callable[..., Cluster]]:
    """A fresh cluster per call: `make_cluster("kops=1.17,networking=kube-router")`; `kube="real"` for a
    cluster only the real control plane can hold (auth=crd).

    The AWS side (moto: VPC, instances, state store) and the facts discovered from it are seeded once
    per distinct spec in the module; each call gets its own API server seeded with the cluster's
    Kubernetes objects, so tests never see each other's writes (same cluster name, fresh API server): the
    real control plane or the emulator, by `--kube`.
    """
    started: list[Cluster] = []
    templates: dict[tuple[str, int], tuple[ClusterSpec, SeededAwsCluster, ClusterFacts]] = {}
    sm = aws_client("secretsmanager")
    api_key_arn = sm.create_secret(Name=f"kops-onboard/agent-api-key-{next(_NAMES)}", SecretString=API_KEY)["ARN"]

    def template(settings: str, nodes: int) -> tuple[ClusterSpec, SeededAwsCluster, ClusterFacts]:
        if (settings, nodes) not in templates:
            version = next(s.split("=")[1] for s in settings.split(",") if s.startswith("kops="))
            name = f"c{next(_NAMES)}-{version.replace('.', '')}.k8s.local"
            spec = ClusterSpec.parse(f"{name}:{settings},nodes={nodes},pods=1")
            aws = seed_aws(
                ec2=aws_client("ec2"),
                autoscaling=aws_client("autoscaling"),
                s3=aws_client("s3"),
                spec=spec,
                region=REGION,
                state_store_bucket=BUCKET,
            )
            facts = discover_cluster(
                ec2=aws_client("ec2"),
                autoscaling=aws_client("autoscaling"),
                s3=aws_client("s3"),
                cluster_name=name,
                region=REGION,
                state_store=STATE_STORE,
            )
            templates[(settings, nodes)] = (spec, aws, facts)
        return templates[(settings, nodes)]

    def make(settings: str = "kops=1.21", *, nodes: int = 1, kube: str | None = None) -> Cluster:
        spec, aws, facts = template(settings, nodes)
        kube_api = start_kube(pytestconfig, tokens=[TOKEN], name=spec.name, kube=kube)
        configuration = k8s.Configuration(
            host=kube_api.url, api_key={"BearerToken": TOKEN}, api_key_prefix={"BearerToken": "Bearer"}
        )
        admin = k8s.ApiClient(configuration)
        seed_kube(admin, spec, aws)
        api = KubeClient(kube_api.url, token=BearerToken(lambda: TOKEN))
        # The name handlers accept: a cluster made again from the same template points it at its API server.
        name = kubeconfig_secret_name(spec.name)
        try:
            secret_arn = sm.create_secret(Name=name, SecretString=kube_api.kubeconfig(TOKEN))["ARN"]
        except sm.exceptions.ResourceExistsException:
            secret_arn = sm.put_secret_value(SecretId=name, SecretString=kube_api.kubeconfig(TOKEN))["ARN"]
        kube_api.clear_requests()
        cluster = Cluster(spec, aws, kube_api, api, admin, secret_arn, api_key_arn, facts)
        started.append(cluster)
        return cluster

    make.started = started  # type: ignore[attr-defined]  (read by release_test_clusters)
    yield make
    for cluster in started:
        cluster.api.close()
        cluster.admin.close()
        cluster.kube.stop()


@pytest.fixture(autouse=True)
def release_test_clusters(request: pytest.FixtureRequest) -> Iterator[None]:
    """Clusters a test made for itself are stopped when it ends (a real control plane goes back to its pool);
    those made by module-scoped fixtures live until the module ends."""
    if "make_cluster" not in request.fixturenames:
        yield
        return
    started: list[Cluster] = request.getfixturevalue("make_cluster").started
    before = len(started)
    yield
    for cluster in started[before:]:
        cluster.api.close()
        cluster.admin.close()
        cluster.admin.close()
        cluster.kube.stop()
    del started[before:]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
