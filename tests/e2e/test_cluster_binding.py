"""Onboarding cluster A with cluster B's kubeconfig (as a new user could): refused before anything is written."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from kops_lambda.constants import kubeconfig_secret_name
from kops_lambda.logic.iam_names import user_name
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import run_execution

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def two_clusters(local_system: LocalSystem) -> tuple[LocalCluster, LocalCluster]:
    return (
        local_system.add_cluster(ClusterSpec.parse("bind-a.k8s.local:kops=1.21,nodes=1")),
        local_system.add_cluster(ClusterSpec.parse("bind-b.k8s.local:kops=1.21,nodes=1")),
    )


def _onboard(system: LocalSystem, payload: dict[str, Any]) -> Any:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], payload, name_prefix="bind"
    )


def _user_exists(system: LocalSystem, cluster: LocalCluster) -> bool:
    try:
        system.aws.client("iam").get_user(UserName=user_name(cluster.name))
    except ClientError:
        return False
    return True


def test_b_s_kubeconfig_arn_is_refused_for_a(
    local_system: LocalSystem, two_clusters: tuple[LocalCluster, LocalCluster]
) -> None:
    a, b = two_clusters
    b.api_server.clear_requests()
    # When A is onboarded with B's kubeconfig secret
    result = _onboard(local_system, {**a.onboard_input(), "kubeconfig_secret_arn": b.kubeconfig_secret_arn})
    # Then it fails naming the secret A's must be, B's API server saw no request, A has no user
    assert result.status == "FAILED" and result.error == "InvalidInput"
    assert kubeconfig_secret_name(a.name) in str(result.cause)
    assert b.api_server.requests == []
    assert not _user_exists(local_system, a)


def test_a_s_secret_pointing_at_b_s_api_server_is_a_cluster_mismatch(
    local_system: LocalSystem, two_clusters: tuple[LocalCluster, LocalCluster]
) -> None:
    a, b = two_clusters
    secrets: Any = local_system.aws.client("secretsmanager")
    own = secrets.get_secret_value(SecretId=a.kubeconfig_secret_arn)["SecretString"]
    theirs = secrets.get_secret_value(SecretId=b.kubeconfig_secret_arn)["SecretString"]
    secrets.put_secret_value(SecretId=a.kubeconfig_secret_arn, SecretString=theirs)
    b.api_server.clear_requests()
    try:
        # When A is onboarded with its own secret, which holds B's kubeconfig
        result = _onboard(local_system, a.onboard_input())
    finally:
        secrets.put_secret_value(SecretId=a.kubeconfig_secret_arn, SecretString=own)
    # Then ValidateCluster fails with ClusterMismatch naming both, and nothing was written to B or for A
    assert result.status == "FAILED" and result.error == "ClusterMismatch"
    assert a.name in str(result.cause) and b.name in str(result.cause)
    assert [r for r in b.api_server.requests if r.method in WRITES] == []
    assert not _user_exists(local_system, a)
    # And with the secret fixed, the same onboarding succeeds
    assert _onboard(local_system, a.onboard_input()).status == "SUCCEEDED"
