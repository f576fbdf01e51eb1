"""Offboarding, end to end: onboard then offboard gives the account and the cluster back as they were;
offboarding is idempotent and safe halfway; other clusters and the shared entities they use are untouched
until the last cluster goes.

The registry keeps an OFFBOARDED tombstone per offboarded cluster (that is what makes a second offboarding
a no-op while an unknown cluster stays ClusterNotFound); the state diff counts a tombstone as no item, and
secrets scheduled for deletion as gone.
"""

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from kops_lambda.adapters.kubeconfig import api_client
from kops_lambda.constants import SHARED_POLICY_NAME, SPOT_ROLE_NAME
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.kube_clients import typed
from tests.rollback.account_state import (
    active_clusters,
    assert_same,
    differences,
    registry_state,
    system_state,
)


def onboard(system: LocalSystem, cluster: LocalCluster) -> ExecutionResult:
    result = run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], cluster.onboard_input(), name_prefix="ob"
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result


def offboard(system: LocalSystem, payload: dict[str, Any]) -> ExecutionResult:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["offboard"], payload, name_prefix="off"
    )


def removed(result: ExecutionResult) -> list[str]:
    assert result.output is not None
    return [name for step in result.output.values() if isinstance(step, dict) for name in step.get("removed", [])]


@pytest.fixture(scope="module")
def first(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("off-first.k8s.local:kops=1.21,nodes=2"))


def test_onboard_then_offboard_gives_back_the_pre_state(local_system: LocalSystem, first: LocalCluster) -> None:
    # Given the account and the cluster before onboarding
    before = system_state(local_system)
    onboard(local_system, first)
    # (a successful onboarding keeps no rollback baseline)
    registry = registry_state(local_system.aws.client("dynamodb"), local_system.output("RegistryTableName"))
    assert not [key for key in registry if key.startswith("rollback-baseline#")]
    # When the cluster is offboarded (secrets with the default recovery window)
    result = offboard(local_system, first.offboard_input())
    # Then everything onboarding made is gone, and the rest is as it was
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert_same(before, system_state(local_system))
    # And the secrets wait out their recovery window rather than vanishing at once
    sm = local_system.aws.client("secretsmanager")
    for kind in ("access-key", "ssh-private-key"):
        described = sm.describe_secret(SecretId=f"kops-onboard/clusters/{first.name}/{kind}")
        assert described.get("DeletedDate") is not None


def test_offboarding_twice_is_a_no_op(local_system: LocalSystem, first: LocalCluster) -> None:
    before = system_state(local_system)
    result = offboard(local_system, first.offboard_input())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [name for name in removed(result) if not name.startswith("registry record")] == []
    assert_same(before, system_state(local_system))


def test_onboarding_again_inside_the_recovery_window_restores_the_secrets(
    local_system: LocalSystem, first: LocalCluster
) -> None:
    # Given an offboarded cluster whose secrets wait out their recovery window
    sm = local_system.aws.client("secretsmanager")
    names = [f"kops-onboard/clusters/{first.name}/{kind}" for kind in ("access-key", "ssh-private-key")]
    assert all(sm.describe_secret(SecretId=name).get("DeletedDate") for name in names)
    # When it is onboarded again (Secrets Manager refuses new values for a deleted secret)
    result = onboard(local_system, first)
    # Then both secrets are live again and hold the new credentials
    assert not [name for name in names if sm.describe_secret(SecretId=name).get("DeletedDate")]
    assert result.output is not None
    stored = json.loads(sm.get_secret_value(SecretId=names[0])["SecretString"])
    assert stored["AccessKeyId"] == result.output["access_key"]["access_key_id"]


def test_an_unknown_cluster_is_a_typed_error(local_system: LocalSystem) -> None:
    result = offboard(local_system, {"cluster_name": "never-seen.k8s.local", "region": local_system.region})
    assert result.status == "FAILED"
    assert result.error == "ClusterNotFound"
    assert "never-seen.k8s.local" in (result.cause or "")


def test_invalid_recovery_window_is_invalid_input(local_system: LocalSystem, first: LocalCluster) -> None:
    result = offboard(local_system, first.offboard_input(secret_recovery_days=3))
    assert result.error == "InvalidInput"
    assert "secret_recovery_days" in (result.cause or "")


def test_a_partly_offboarded_cluster_offboards_on_a_rerun(local_system: LocalSystem) -> None:
    # Given an onboarded kOps 1.17 cluster (MountedFile authenticator, kube-router patched)
    old = local_system.add_cluster(ClusterSpec.parse("off-old.k8s.local:kops=1.17,networking=kube-router,nodes=2"))
    before = system_state(local_system, daemonsets=False)
    config_before = old.api_server.store.get("v1/configmaps", "kube-system", "aws-iam-authenticator")
    onboard(local_system, old)
    # When offboarding stops at the key pair (denied: not retried)
    local_system.aws.inject_lambda_fault(
        "CleanupKeyPairFunction", error_type="AccessDeniedException", event_matches={"action": "offboard"}
    )
    stopped = offboard(local_system, old.offboard_input(secret_recovery_days=0))
    assert stopped.error == "AccessDeniedException"
    assert old.api_server.store.get("v1/namespaces", None, "castai-agent") is None  # the steps before it ran
    # Then a rerun on the partly offboarded cluster finishes the job
    rerun = offboard(local_system, old.offboard_input(secret_recovery_days=0))
    assert rerun.status == "SUCCEEDED", (rerun.error, rerun.cause)
    assert any("EC2 key pair" in name for name in removed(rerun))
    # And the account and cluster are as before onboarding: config.yaml byte for byte; the authenticator
    # was rolled once more to load it (its pod-template annotations are the one change, by design)
    assert_same(before, system_state(local_system, daemonsets=False))
    config_after = old.api_server.store.get("v1/configmaps", "kube-system", "aws-iam-authenticator")
    assert config_before is not None and config_after is not None
    assert config_after["data"] == config_before["data"]
    sm = local_system.aws.client("secretsmanager")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=f"kops-onboard/clusters/{old.name}/access-key")


def test_a_service_account_cluster_offboards_to_the_pre_state_and_its_kubeconfig_is_refused(
    local_system: LocalSystem,
) -> None:
    # Given a cluster without the authenticator (real kube-apiserver), onboarded in service-account mode
    cluster = local_system.add_cluster(ClusterSpec.parse("off-sa.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real")
    before = system_state(local_system)
    out = onboard(local_system, cluster).output
    assert out is not None and out["cluster"]["identity_mode"] == "service-account"
    sm = local_system.aws.client("secretsmanager")
    kubeconfig = json.loads(
        sm.get_secret_value(SecretId=out["identity_mapping"]["kubeconfig_secret_arn"])["SecretString"]
    )
    with api_client(kubeconfig) as api:
        assert k8s.CoreV1Api(typed(api)).list_node().items
    # When it is offboarded (secrets with the default recovery window)
    result = offboard(local_system, cluster.offboard_input())
    # Then the account, its binding and token Secret are gone, with everything else onboarding made
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    name = f"cast-kops-{cluster.name}"
    gone = removed(result)
    for what in (
        f"Secret kube-system/{name}-token",
        f"ClusterRoleBinding {name}",
        f"ServiceAccount kube-system/{name}",
    ):
        assert what in gone
    assert_same(before, system_state(local_system))
    # And the vendor's kubeconfig waits out its recovery window, its token already refused by the cluster:
    # 403 (kube-apiserver caches a token it just authenticated for 10 s, but the binding is gone) or 401
    described = sm.describe_secret(SecretId=f"kops-onboard/clusters/{cluster.name}/vendor-kubeconfig")
    assert described.get("DeletedDate") is not None
    with api_client(kubeconfig) as api, pytest.raises(ApiException) as refused:
        k8s.CoreV1Api(typed(api)).list_node()
    assert refused.value.status in (401, 403), refused.value.body


def test_offboarding_one_of_two_clusters_leaves_the_other_and_the_shared_entities(
    local_system: LocalSystem,
) -> None:
    # Given two onboarded clusters
    one = local_system.add_cluster(ClusterSpec.parse("off-one.k8s.local:kops=1.21,nodes=1"))
    two = local_system.add_cluster(ClusterSpec.parse("off-two.k8s.local:kops=1.22,nodes=1"))
    onboard(local_system, one)
    onboard(local_system, two)
    before = system_state(local_system)
    # When one of them is offboarded
    result = offboard(local_system, one.offboard_input(secret_recovery_days=0))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # Then only its own entities changed: the other cluster's, the policy and the role are untouched
    changed = differences(before, system_state(local_system))
    assert changed
    assert all(one.name in line for line in changed), "\n".join(changed)
    assert result.output is not None
    assert result.output["shared_iam"]["removed"] == []
    kept = " ".join(result.output["shared_iam"]["kept"])
    assert SHARED_POLICY_NAME in kept and SPOT_ROLE_NAME in kept


def test_offboarding_the_last_cluster_removes_the_shared_entities(local_system: LocalSystem) -> None:
    # Given every cluster but one offboarded (including those other suites onboarded)
    last = local_system.clusters["off-two.k8s.local"]
    for name in active_clusters(local_system.aws.client("dynamodb"), local_system.output("RegistryTableName")):
        if name != last.name:
            done = offboard(local_system, local_system.clusters[name].offboard_input(secret_recovery_days=0))
            assert done.status == "SUCCEEDED", (done.error, done.cause)
    # When the last one is offboarded
    result = offboard(local_system, last.offboard_input(secret_recovery_days=0))
    # Then CASTKopsPolicyV2 and CastLambdaRoleForSpot go with it
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output is not None
    assert f"IAM policy {SHARED_POLICY_NAME}" in result.output["shared_iam"]["removed"]
    assert f"IAM role {SPOT_ROLE_NAME}" in result.output["shared_iam"]["removed"]
    after = system_state(local_system)
    assert SHARED_POLICY_NAME not in after["iam"]["policies"]
    assert SPOT_ROLE_NAME not in after["iam"]["roles"]
    assert not [u for u in after["iam"]["users"] if u.startswith("cast-kops-")]
    assert after["registry"] == {}
