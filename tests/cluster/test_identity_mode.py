"""Which identity mode a cluster gets (logic/cluster/identity_mode): resolved from what the cluster runs."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from kops_lambda.errors import AuthenticationNotEnabled, UnsupportedAuthBackend
from kops_lambda.logic.cluster.identity_mode import registered_identity_mode, resolve_identity_mode
from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.logic.registry import record_onboarding
from kops_lambda.models.onboarding import IdentityMode

from .conftest import REGION, STATE_STORE, Cluster, MakeCluster, aws_client

AUTH_DS = ("apps/v1/daemonsets", "kube-system", "aws-iam-authenticator")
TABLE = "kops-onboard-registry-identity-mode-tests"


def resolve(cluster: Cluster, requested: IdentityMode, *, with_spec: bool = True) -> str:
    spec = read_kops_spec(aws_client("s3"), STATE_STORE, cluster.name) if with_spec else None
    return resolve_identity_mode(cluster.api, cluster_name=cluster.name, requested=requested, kops_spec=spec)


@pytest.mark.parametrize(
    ("settings", "requested", "expected"),
    [
        ("kops=1.21,auth=none", "auto", "service-account"),
        ("kops=1.21,auth=none", "service-account", "service-account"),
        ("kops=1.21", "auto", "authenticator"),
        ("kops=1.17", "auto", "authenticator"),
        ("kops=1.21", "authenticator", "authenticator"),
        ("kops=1.21", "service-account", "service-account"),
    ],
)
def test_the_mode_follows_what_the_cluster_runs(
    make_cluster: MakeCluster, settings: str, requested: IdentityMode, expected: str
) -> None:
    # Given a seeded cluster with or without aws-iam-authenticator
    cluster = make_cluster(settings)
    # When the mode is resolved
    # Then it is the expected one, and resolving wrote nothing
    assert resolve(cluster, requested) == expected
    assert cluster.writes() == []


def test_authenticator_requested_without_one_fails_with_the_kops_setting(make_cluster: MakeCluster) -> None:
    # Given a cluster created without spec.authentication.aws (kOps' default)
    cluster = make_cluster("kops=1.21,auth=none")
    # When the authenticator mode is asked for
    with pytest.raises(AuthenticationNotEnabled) as raised:
        resolve(cluster, "authenticator")
    # Then the error says what to change in kOps, and nothing was written
    assert "spec.authentication.aws: {}" in str(raised.value)
    assert f"kops update cluster {cluster.name} --yes" in str(raised.value)
    assert cluster.writes() == []


@pytest.mark.parametrize("requested", ["auto", "authenticator"])
def test_an_enabled_but_missing_authenticator_is_not_silently_replaced(
    make_cluster: MakeCluster, requested: IdentityMode
) -> None:
    # Given a spec enabling the authenticator whose DaemonSet is not (yet) running
    cluster = make_cluster("kops=1.21")
    cluster.kube.store.delete(*AUTH_DS)
    # When / Then: the cluster is half-updated, auto does not fall back to a ServiceAccount
    with pytest.raises(AuthenticationNotEnabled, match="roll the masters"):
        resolve(cluster, requested)
    # And without the spec to tell, auto takes the cluster as one without the authenticator
    assert resolve(cluster, "auto", with_spec=False) == "service-account"


def test_an_unwritable_backend_fails_in_auto_too(make_cluster: MakeCluster) -> None:
    # Given an authenticator that only reads DynamicFile (a file on the masters)
    cluster = make_cluster("kops=1.21")
    daemonset = cluster.object(*AUTH_DS)
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [a for a in container.get("args", []) if not a.startswith("--backend-mode")]
    container["args"].append("--backend-mode=DynamicFile")
    cluster.kube.store.put(daemonset)
    # When / Then: an authenticator runs, so auto means authenticator, and it cannot be written
    with pytest.raises(UnsupportedAuthBackend):
        resolve(cluster, "auto")


@pytest.fixture(scope="module")
def registry(aws_account: None) -> Iterator[Any]:
    aws_client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "cluster_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "cluster_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield boto3.resource("dynamodb", region_name=REGION).Table(TABLE)


def test_the_registered_mode_is_what_validation_recorded(registry: Any) -> None:
    # Given clusters recorded with and without an identity mode (the latter onboarded before modes existed)
    for name, facts in (
        ("sa.k8s.local", {"vpc_id": "vpc-1", "identity_mode": "service-account"}),
        ("old.k8s.local", {"vpc_id": "vpc-2"}),
    ):
        record_onboarding(
            registry,
            region=REGION,
            cluster_name=name,
            execution_id="e",
            kubeconfig_secret_arn="arn",
            facts=facts,
            admin_kubeconfig={"credential": "token", "expires_at": None},
        )
    # When / Then
    assert registered_identity_mode(registry, region=REGION, cluster_name="sa.k8s.local") == "service-account"
    assert registered_identity_mode(registry, region=REGION, cluster_name="old.k8s.local") == "authenticator"
