"""Spot unit fixtures: moto in-process for AWS, a Kubernetes API server (real or emulated, by `--kube`), real
event fixtures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes import client as k8s
from moto import mock_aws

from kops_lambda.adapters.kube import BearerToken, KubeClient
from kops_lambda.constants import drainer_secret_name
from kops_lambda.logic.spot.dedup import InterruptionDedup
from kops_lambda.logic.spot.service import SpotDependencies, parse_interruption_event
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_local.aws import LambdaContext
from kops_local.kube.served import ServedKubeApi
from kops_local.seed import (
    ClusterSpec,
    SeededAwsCluster,
    SeededInstance,
    SeededKubeCluster,
    seed_aws,
    seed_kube,
)
from tests.kube_backends import start_kube

REGION = "us-east-1"
TOKEN = "spot-unit-token"
EVENTS = Path(__file__).parent / "events"
WARNING = "spot-interruption-warning"
REBALANCE = "rebalance-recommendation"
STATE_CHANGE = "state-change-shutting-down"
CAPACITY_RESERVATION = "capacity-reservation-interruption-warning"
REGISTRY_TABLE = "registry"
DEDUP_TABLE = "spot-dedup"


def ec2_event(
    fixture: str,
    *,
    instance_id: str,
    age: float = 0.0,
    event_id: str | None = None,
    region: str = REGION,
    detail: dict[str, str] | None = None,
) -> Ec2InterruptionEvent:
    """A fixture event (tests/spot/events/<fixture>.json) for this instance, `age` seconds old."""
    data: dict[str, Any] = json.loads((EVENTS / f"{fixture}.json").read_text())
    when = datetime.fromtimestamp(datetime.now(UTC).timestamp() - age, UTC)
    data |= {
        "id": event_id or str(uuid.uuid4()),
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"],
    }
    if "instance-termination-time" in data["detail"]:  # the fixture's two minutes, from the new time
        data["detail"]["instance-termination-time"] = datetime.fromtimestamp(when.timestamp() + 120, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    data["detail"] |= {"instance-id": instance_id, **(detail or {})}
    return parse_interruption_event(data)


def kube_core(url: str, *, pool: int = 64) -> KubeClient:
    """Our transport, as the Spot handler builds it, with the admin's token."""
    return KubeClient(url, token=BearerToken(lambda: TOKEN), connections=pool)


def kube_admin(url: str) -> k8s.ApiClient:
    """The official client, for seeding and for checks independent of our transport."""
    configuration = k8s.Configuration(
        host=url, api_key={"BearerToken": TOKEN}, api_key_prefix={"BearerToken": "Bearer"}
    )
    return k8s.ApiClient(configuration)


@pytest.fixture
def kube(pytestconfig: pytest.Config) -> Iterator[ServedKubeApi]:
    kube = start_kube(pytestconfig, tokens=[TOKEN], name="spot-unit")
    yield kube
    kube.stop()


@pytest.fixture
def core(kube: ServedKubeApi) -> Iterator[KubeClient]:
    api = kube_core(kube.url)
    yield api
    api.close()


@pytest.fixture
def aws() -> Iterator[Callable[[str], Any]]:
    factory: Any = boto3.client  # the service name is dynamic; the stubs only type literal names
    with mock_aws():
        yield lambda service: factory(
            service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )


@dataclass
class Cluster:
    aws: SeededAwsCluster
    seeded: SeededKubeCluster
    kube: ServedKubeApi
    core: KubeClient
    clients: Callable[[str], Any]

    @property
    def spot_workers(self) -> list[SeededInstance]:
        return [i for i in self.aws.instances if i.lifecycle == "spot" and i.role == "node"]

    def node_name(self, instance: SeededInstance) -> str:
        return self.seeded.node_name(instance.instance_id)

    def node(self, instance: SeededInstance) -> dict[str, Any]:
        node = self.kube.store.get("v1/nodes", None, self.node_name(instance))
        assert node is not None
        return node

    def pods_on(self, instance: SeededInstance) -> list[dict[str, Any]]:
        """Pods staying on the node: an evicted pod is Terminating (deletionTimestamp set) until its grace
        period ends on a real server, and gone at once on the emulator; either way it is leaving."""
        on_node = self.kube.store.list("v1/pods", field_selector=f"spec.nodeName={self.node_name(instance)}")
        return [p for p in on_node if not p["metadata"].get("deletionTimestamp")]

    def node_events(self, instance: SeededInstance) -> list[dict[str, Any]]:
        name = self.node_name(instance)
        return [e for e in self.kube.store.list("v1/events") if e["involvedObject"]["name"] == name]

    def deps(self, *, dedup: bool = True) -> SpotDependencies:
        dynamodb = boto3.resource(
            "dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        return SpotDependencies(
            ec2=self.clients("ec2"),
            autoscaling=self.clients("autoscaling"),
            registry_table=dynamodb.Table(REGISTRY_TABLE),
            core_api_for=lambda _arn: self.core,
            dedup=self.dedup() if dedup else None,
            reporter="spot-unit",
        )

    def dedup(self) -> InterruptionDedup:
        dedup = InterruptionDedup(table_name=DEDUP_TABLE, dynamodb=self.clients("dynamodb"))
        dedup.register_lambda_context(lambda_context())
        return dedup


def lambda_context(seconds: float = 120.0) -> Any:
    """The local runtime's context object (duck-types Powertools' LambdaContext)."""
    return LambdaContext(
        function_name="spot-unit",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:spot-unit",
        memory_limit_in_mb=1024,
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/spot-unit",
        log_stream_name="unit",
        deadline_monotonic=time.monotonic() + seconds,
    )


def create_tables(clients: Callable[[str], Any]) -> None:
    dynamodb = clients("dynamodb")
    for name, key in ((REGISTRY_TABLE, "cluster_key"), (DEDUP_TABLE, "id")):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def drainer_secret_arn(cluster_name: str) -> str:
    """Where IssueDrainerCredential would have stored the cluster's drainer credential (the registry names it)."""
    return f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{drainer_secret_name(cluster_name)}-AbCdEf"


def register(clients: Callable[[str], Any], cluster_name: str, status: str = "ONBOARDED") -> None:
    clients("dynamodb").put_item(
        TableName=REGISTRY_TABLE,
        Item={
            "cluster_key": {"S": f"{REGION}#{cluster_name}"},
            "cluster_name": {"S": cluster_name},
            "status": {"S": status},
            "kubeconfig_secret_arn": {"S": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{cluster_name}"},
            "resources": {"M": {"drainer": {"M": {"secret_arn": {"S": drainer_secret_arn(cluster_name)}}}}},
        },
    )


def seed_cluster(clients: Callable[[str], Any], kube: ServedKubeApi, core: KubeClient, text: str) -> Cluster:
    spec = ClusterSpec.parse(text)
    seeded_aws = seed_aws(
        ec2=clients("ec2"),
        autoscaling=clients("autoscaling"),
        s3=clients("s3"),
        spec=spec,
        region=REGION,
        state_store_bucket="kops-state-unit",
    )
    with kube_admin(kube.url) as admin:
        seeded_kube = seed_kube(admin, spec, seeded_aws)
    return Cluster(seeded_aws, seeded_kube, kube, core, clients)


@pytest.fixture
def cluster(aws: Callable[[str], Any], kube: ServedKubeApi, core: KubeClient) -> Cluster:
    """An onboarded kOps 1.21 cluster: 3 workers (2 Spot), 6 pods each, nodes named by private DNS name."""
    create_tables(aws)
    seeded = seed_cluster(aws, kube, core, "unit.k8s.local:nodes=3,pods=6")
    register(aws, seeded.aws.name)
    kube.settle()  # the controllers have long caught up on a cluster whose node gets interrupted
    kube.clear_requests()
    return seeded
