"""One workflow per cluster at a time, end to end: while an onboarding or offboarding works on a cluster
(held at one of its steps), a second execution of either kind fails at once with ClusterBusy naming it;
the first then ends as it would alone, and the account, the cluster and the registry agree.

Without the lease, an offboarding that ran while an onboarding was at MapIdentity deleted the user, and
the onboarding then mapped that deleted user into aws-auth (whoever re-creates the name inherits it).
"""

import json

import pytest

from kops_lambda.constants import STATUS_ONBOARDED, access_key_secret_name
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.registry import cluster_key
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, start_execution, wait_for_execution
from tests.rollback.account_state import registry_state

# (first execution, the function it is held at, second execution)
RACES = [
    ("onboard", "OnboardingMapIdentityFunction", "offboard"),
    ("onboard", "OnboardingStoreAccessKeyFunction", "onboard"),
    ("offboard", "CleanupAgentFunction", "onboard"),
    ("offboard", "CleanupAgentFunction", "offboard"),
]


def start(system: LocalSystem, cluster: LocalCluster, kind: str) -> str:
    payload = cluster.onboard_input() if kind == "onboard" else cluster.offboard_input(secret_recovery_days=0)
    return start_execution(system.aws.client("stepfunctions"), system.state_machines[kind], payload, name_prefix=kind)


def finish(system: LocalSystem, execution_arn: str) -> ExecutionResult:
    return wait_for_execution(system.aws.client("stepfunctions"), execution_arn, timeout=120)


def mapped_identities(cluster: LocalCluster) -> str:
    """The identity mapping data of both authenticator backends, as text."""
    store = cluster.api_server.store
    return json.dumps([(store.get("v1/configmaps", "kube-system", name) or {}).get("data") for name in AUTH_MAPS])


AUTH_MAPS = ("aws-auth", "aws-iam-authenticator")


def assert_consistent(system: LocalSystem, cluster: LocalCluster) -> None:
    """The user exists, is mapped, has one stored key and is ONBOARDED in the registry; or none of it."""
    iam = system.aws.client("iam")
    name = user_name(cluster.name)
    users = {user["UserName"] for user in iam.list_users()["Users"]}
    registry = registry_state(system.aws.client("dynamodb"), system.output("RegistryTableName"))
    status = (registry.get(cluster_key(system.region, cluster.name)) or {}).get("status")
    mapped = f"user/{name}" in mapped_identities(cluster)
    leases = [key for key in registry if key.startswith(("lease#", "creating#"))]
    assert not leases, leases
    if name not in users:
        assert not mapped and status is None, (mapped, status)
        return
    assert mapped and status == STATUS_ONBOARDED, (mapped, status)
    keys = [key["AccessKeyId"] for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]]
    secret = system.aws.client("secretsmanager").get_secret_value(SecretId=access_key_secret_name(cluster.name))
    assert keys == [json.loads(secret["SecretString"])["AccessKeyId"]]


@pytest.mark.parametrize(("first_kind", "held_at", "second_kind"), RACES)
def test_a_second_execution_of_a_busy_cluster_fails_at_once_and_the_first_ends_as_alone(
    local_system: LocalSystem, first_kind: str, held_at: str, second_kind: str
) -> None:
    # Given a cluster (onboarded when the first execution offboards it)
    spec = f"race-{first_kind}-{second_kind}-{held_at[:14].lower()}.k8s.local:kops=1.21,nodes=1"
    cluster = local_system.add_cluster(ClusterSpec.parse(spec))
    if first_kind == "offboard":
        assert finish(local_system, start(local_system, cluster, "onboard")).status == "SUCCEEDED"
    # And a first execution working on it, held inside one of its steps
    with local_system.aws.hold_lambda(held_at) as hold:
        first = start(local_system, cluster, first_kind)
        assert hold.reached.wait(timeout=60), f"{first_kind} never reached {held_at}"
        # When a second execution of the same cluster starts meanwhile
        second = finish(local_system, start(local_system, cluster, second_kind))
    # Then the second failed at once, naming the first, and changed nothing
    assert second.status == "FAILED" and second.error == "ClusterBusy", (second.error, second.cause)
    assert first in (second.cause or "")
    # And the first ends as it would have alone
    result = finish(local_system, first)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert_consistent(local_system, cluster)
    # And once it has ended, the second kind of execution works
    rerun = finish(local_system, start(local_system, cluster, second_kind))
    assert rerun.status == "SUCCEEDED", (rerun.error, rerun.cause)
    assert_consistent(local_system, cluster)
