"""Compensating rollback, end to end: for every step of the onboarding workflow, a run where that step fails
leaves IAM, EC2 key pairs, Secrets Manager, the registry and the cluster exactly as they were.

Faults: `LocalAws.inject_lambda_fault` makes a step's Lambda fail with a named error, here *after* its
handler ran (the step did all its work, then the function died: the hardest case, since the step's own
changes must go too); real faults come from the account or the cluster (a foreign IAM user or key pair
under our name, an unparsable aws-auth, the API server refusing the agent's Deployment halfway through
InstallAgent). The matrix runs in an account where no other cluster is onboarded, so the shared policy
and role are created by the failing run itself and must go with it.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from kops_lambda.adapters.kubeconfig import api_client
from kops_lambda.constants import SHARED_POLICY_NAME, SPOT_ROLE_NAME
from kops_lambda.workflow import ONBOARDING_STATES
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.kube_clients import typed
from tests.rollback.account_state import active_clusters, assert_same, system_state

STEPS = list(ONBOARDING_STATES)


def onboard(system: LocalSystem, cluster: LocalCluster) -> ExecutionResult:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], cluster.onboard_input(), name_prefix="rb"
    )


def offboard(system: LocalSystem, payload: dict[str, Any]) -> ExecutionResult:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["offboard"], payload, name_prefix="rb-off"
    )


def offboard_every_cluster(system: LocalSystem) -> None:
    """Offboard whatever earlier suites onboarded in this shared local system."""
    for name in active_clusters(system.aws.client("dynamodb"), system.output("RegistryTableName")):
        result = offboard(system, system.clusters[name].offboard_input(secret_recovery_days=0))
        assert result.status == "SUCCEEDED", (result.error, result.cause)


def rollback_summary(result: ExecutionResult) -> str:
    assert result.cause is not None
    return result.cause.rsplit("(rollback: ", 1)[-1]


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("rollback.k8s.local:kops=1.21,nodes=2"))


@pytest.fixture(scope="module")
def empty_account(local_system: LocalSystem, cluster: LocalCluster) -> None:
    offboard_every_cluster(local_system)
    iam = local_system.aws.client("iam")
    assert not [p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == SHARED_POLICY_NAME]


@pytest.fixture(autouse=True)
def no_leftover_faults(local_system: LocalSystem) -> Iterator[None]:
    yield
    pending = local_system.aws.pending_lambda_faults()
    local_system.aws.clear_lambda_faults()
    assert not pending, f"faults never triggered: {pending}"


@pytest.mark.usefixtures("empty_account")
@pytest.mark.parametrize("step", STEPS)
def test_a_step_that_fails_after_its_work_leaves_everything_as_it_was(
    local_system: LocalSystem, cluster: LocalCluster, step: str
) -> None:
    # Given the account and the cluster as they are, and a step that dies after doing its work
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault(f"{step}Function", error_type="Sandbox.Timedout", after_handler=True)
    # When the onboarding runs
    result = onboard(local_system, cluster)
    # Then it fails with that step's error, reports its rollback, and nothing it made is left
    assert result.status == "FAILED", result.output
    assert result.error == "Sandbox.Timedout"
    summary = rollback_summary(result)
    assert '"registry":' in summary
    if STEPS.index(step) >= STEPS.index("CreateIamEntities"):
        # No other cluster uses them: the shared policy and role this run created went with it
        assert f"IAM policy {SHARED_POLICY_NAME}" in summary and f"IAM role {SPOT_ROLE_NAME}" in summary
    assert_same(before, system_state(local_system))


def test_a_foreign_user_under_our_name_is_left_alone(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # Given an IAM user with our name that kops-onboard did not create
    iam = local_system.aws.client("iam")
    iam.create_user(UserName=f"cast-kops-{cluster.name}")
    try:
        before = system_state(local_system)
        # When onboarding runs, it refuses to take it over
        result = onboard(local_system, cluster)
        assert result.error == "ForeignEntity"
        # Then the rollback removed nothing that was there (the user included)
        assert_same(before, system_state(local_system))
    finally:
        iam.delete_user(UserName=f"cast-kops-{cluster.name}")


def test_a_foreign_key_pair_under_our_name_is_left_alone(local_system: LocalSystem, cluster: LocalCluster) -> None:
    ec2 = local_system.aws.client("ec2")
    ec2.create_key_pair(KeyName=f"cast-kops-{cluster.name}")
    try:
        before = system_state(local_system)
        result = onboard(local_system, cluster)
        assert result.error == "KeyPairWithoutSecret"
        assert_same(before, system_state(local_system))
    finally:
        ec2.delete_key_pair(KeyName=f"cast-kops-{cluster.name}")


def test_an_unparsable_aws_auth_stays_byte_for_byte(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # Given an aws-auth whose mapUsers someone broke
    store = cluster.api_server.store
    original = store.get("v1/configmaps", "kube-system", "aws-auth")
    assert original is not None
    store.mutate("v1/configmaps", "kube-system", "aws-auth", lambda cm: cm["data"].update(mapUsers="- userarn: [oops"))
    try:
        before = system_state(local_system)
        result = onboard(local_system, cluster)
        assert result.error == "MalformedAuthConfig"
        assert_same(before, system_state(local_system))
    finally:
        store.mutate("v1/configmaps", "kube-system", "aws-auth", lambda cm: cm.update(data=original["data"]))


def test_install_agent_failing_halfway_removes_the_objects_it_made(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given an API server that refuses the agent's Deployment (namespace, RBAC, Secret... are made by then)
    before = system_state(local_system)
    cluster.api_server.inject_fault(method="POST", path_pattern=r"/namespaces/castai-agent/deployments$", status=422)
    # When onboarding runs
    result = onboard(local_system, cluster)
    # Then InstallAgent fails, and its rollback removes what it had created, not only what it had recorded
    assert result.error == "KubeRequestRejected"
    assert "Namespace castai-agent" in rollback_summary(result)
    assert_same(before, system_state(local_system))


def test_mounted_file_authenticator_and_kube_router_are_put_back(local_system: LocalSystem) -> None:
    # Given a kOps 1.17 cluster: MountedFile authenticator (rolled by MapIdentity), kube-router (patched)
    old = local_system.add_cluster(ClusterSpec.parse("rollback117.k8s.local:kops=1.17,networking=kube-router,nodes=2"))
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault("StoreAccessKeyFunction", error_type="Sandbox.Timedout", after_handler=True)
    # When onboarding fails after both were changed
    result = onboard(local_system, old)
    # Then config.yaml, the authenticator's pod template and kube-router's tolerations are as before
    assert result.error == "Sandbox.Timedout"
    summary = rollback_summary(result)
    assert "aws-iam-authenticator" in summary and "kube-router tolerations" in summary
    assert_same(before, system_state(local_system))


def test_a_throttled_compensation_is_retried_and_the_rollback_completes(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault("CreateKeyPairFunction", error_type="Sandbox.Timedout", after_handler=True)
    local_system.aws.inject_lambda_fault(
        "CleanupIamEntitiesFunction", error_type="AwsThrottled", times=2, event_matches={"action": "rollback"}
    )
    result = onboard(local_system, cluster)
    assert result.error == "Sandbox.Timedout"
    assert_same(before, system_state(local_system))
    history = local_system.aws.client("stepfunctions").get_execution_history(
        executionArn=result.execution_arn, maxResults=1000
    )["events"]
    invocations = [e for e in history if e["type"] == "LambdaFunctionScheduled"]
    assert len(invocations) == 4 + 3 + 2  # 4 steps up to CreateKeyPair, 3 compensations, 2 retried attempts


def test_an_interrupted_rollback_is_reported_and_a_rerun_converges(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given a failing onboarding whose key pair compensation is denied (not retryable)
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault("StoreAccessKeyFunction", error_type="Sandbox.Timedout", after_handler=True)
    local_system.aws.inject_lambda_fault(
        "CleanupKeyPairFunction", error_type="AccessDeniedException", event_matches={"action": "rollback"}
    )
    # When it runs, the rollback stops halfway and says so, with the original error
    failed = onboard(local_system, cluster)
    assert failed.error == "RollbackFailed"
    assert failed.cause is not None
    assert "Sandbox.Timedout" in failed.cause and "AccessDeniedException" in failed.cause
    left = system_state(local_system)
    user = f"cast-kops-{cluster.name}"
    assert user in left["iam"]["users"] and not left["iam"]["users"][user]["access_keys"]
    assert user in left["key_pairs"]
    # When the onboarding runs again
    rerun = onboard(local_system, cluster)
    # Then it converges on a complete onboarding, reusing what the rollback left
    assert rerun.status == "SUCCEEDED", (rerun.error, rerun.cause)
    assert rerun.output is not None
    assert rerun.output["key_pair"]["key_pair_id"] == left["key_pairs"][user]
    assert len(system_state(local_system)["iam"]["users"][user]["access_keys"]) == 1
    # And offboarding it brings the account back to where it was before the failed run
    offboarded = offboard(local_system, cluster.offboard_input(secret_recovery_days=0))
    assert offboarded.status == "SUCCEEDED", (offboarded.error, offboarded.cause)
    assert_same(before, system_state(local_system))


@pytest.fixture(scope="module")
def sa_cluster(local_system: LocalSystem) -> LocalCluster:
    """Without the authenticator, on a real kube-apiserver (its token controller fills token Secrets)."""
    return local_system.add_cluster(ClusterSpec.parse("rollback-sa.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real")


@pytest.mark.parametrize("step", ["MapIdentity", "RecordOnboarded"])
def test_service_account_mode_failing_after_map_identity_leaves_everything_as_it_was(
    local_system: LocalSystem, sa_cluster: LocalCluster, step: str
) -> None:
    # Given a cluster that onboards in service-account mode, and a step that dies after doing its work
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault(f"{step}Function", error_type="Sandbox.Timedout", after_handler=True)
    # When the onboarding runs
    result = onboard(local_system, sa_cluster)
    # Then the vendor's account, binding, token Secret and kubeconfig secret went with the rest
    assert result.error == "Sandbox.Timedout"
    summary = rollback_summary(result)
    name = f"cast-kops-{sa_cluster.name}"
    for what in (
        f"Secret kube-system/{name}-token",
        f"ServiceAccount kube-system/{name}",
        f"ClusterRoleBinding {name}",
    ):
        assert what in summary
    assert f"secret kops-onboard/clusters/{sa_cluster.name}/vendor-kubeconfig (deleted)" in summary
    assert_same(before, system_state(local_system))


def test_a_rollback_keeps_the_vendor_identity_an_earlier_onboarding_made(local_system: LocalSystem) -> None:
    # Given a cluster onboarded in service-account mode, its kubeconfig stored (a cluster of its own: the
    # agent namespace the tests above rolled back stays Terminating until its pods' grace period is over)
    sa_cluster = local_system.add_cluster(
        ClusterSpec.parse("rollback-sa-kept.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real"
    )
    done = onboard(local_system, sa_cluster)
    assert done.status == "SUCCEEDED", (done.error, done.cause)
    assert done.output is not None
    arn = done.output["identity_mapping"]["kubeconfig_secret_arn"]
    sm = local_system.aws.client("secretsmanager")
    stored = sm.get_secret_value(SecretId=arn)["SecretString"]
    before = system_state(local_system)
    # When a rerun fails after MapIdentity
    local_system.aws.inject_lambda_fault("InstallAgentFunction", error_type="Sandbox.Timedout", after_handler=True)
    result = onboard(local_system, sa_cluster)
    # Then its rollback leaves the identity the first run made, and the vendor's kubeconfig still works
    assert result.error == "Sandbox.Timedout"
    assert f"ServiceAccount kube-system/cast-kops-{sa_cluster.name}" not in rollback_summary(result)
    assert_same(before, system_state(local_system))
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == stored
    with api_client(json.loads(stored)) as api:
        assert k8s.CoreV1Api(typed(api)).list_node().items


def test_with_another_cluster_onboarded_the_shared_entities_stay(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given another onboarded cluster (it uses the shared policy and role)
    other = local_system.add_cluster(ClusterSpec.parse("rollback-other.k8s.local:kops=1.22,nodes=1"))
    assert onboard(local_system, other).status == "SUCCEEDED"
    before = system_state(local_system)
    # When this cluster's onboarding fails after its IAM step used them
    local_system.aws.inject_lambda_fault("CreateKeyPairFunction", error_type="Sandbox.Timedout", after_handler=True)
    result = onboard(local_system, cluster)
    # Then only this cluster's entities went; the other cluster's, the policy and the role are untouched
    assert result.error == "Sandbox.Timedout"
    assert_same(before, system_state(local_system))
