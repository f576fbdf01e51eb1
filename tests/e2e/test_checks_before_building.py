"""Checks before building, end to end: what would fail a later step stops the onboarding at ValidateCluster,
with that step's error, before anything is created (no six steps and a full rollback first)."""

from collections.abc import Iterator

import pytest

from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.rollback.account_state import assert_same, system_state


def onboard(system: LocalSystem, cluster: LocalCluster) -> ExecutionResult:
    sfn = system.aws.client("stepfunctions")
    return run_execution(sfn, system.state_machines["onboard"], cluster.onboard_input(), name_prefix="check")


def entered(system: LocalSystem, result: ExecutionResult) -> list[str]:
    history = system.aws.client("stepfunctions").get_execution_history(executionArn=result.execution_arn)
    return [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]


@pytest.fixture
def onboarded(local_system: LocalSystem) -> Iterator[LocalCluster]:
    cluster = local_system.add_cluster(ClusterSpec.parse("checks.k8s.local:kops=1.21,nodes=1"))
    assert onboard(local_system, cluster).status == "SUCCEEDED"
    yield cluster
    sfn = local_system.aws.client("stepfunctions")
    offboard = cluster.offboard_input(secret_recovery_days=0)
    assert (
        run_execution(sfn, local_system.state_machines["offboard"], offboard, name_prefix="off").status == "SUCCEEDED"
    )


def test_two_access_keys_on_our_user_none_of_them_ours_stop_at_validate_cluster(
    local_system: LocalSystem, onboarded: LocalCluster
) -> None:
    # Given our user, whose key someone replaced by two of their own
    iam = local_system.aws.client("iam")
    user = f"cast-kops-{onboarded.name}"
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    foreign = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    before = system_state(local_system)
    # When onboarding runs again
    result = onboard(local_system, onboarded)
    # Then it stops at ValidateCluster with StoreAccessKey's error, and nothing changed
    assert result.error == "AccessKeyLimit", (result.error, result.cause)
    steps = entered(local_system, result)
    assert "ValidateCluster" in steps and "CreateIamEntities" not in steps
    assert_same(before, system_state(local_system))
    for key_id in foreign:
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)


def test_a_foreign_key_pair_under_our_name_stops_at_validate_cluster(local_system: LocalSystem) -> None:
    cluster = local_system.add_cluster(ClusterSpec.parse("checks-pair.k8s.local:kops=1.21,nodes=1"))
    ec2 = local_system.aws.client("ec2")
    ec2.create_key_pair(KeyName=f"cast-kops-{cluster.name}")
    try:
        result = onboard(local_system, cluster)
        assert result.error == "KeyPairWithoutSecret", (result.error, result.cause)
        steps = entered(local_system, result)
        assert "ValidateCluster" in steps and "CreateIamEntities" not in steps
    finally:
        ec2.delete_key_pair(KeyName=f"cast-kops-{cluster.name}")


def test_a_cluster_in_a_region_the_spot_rules_do_not_cover_stops_at_validate_cluster(
    local_system: LocalSystem,
) -> None:
    # Given a cluster in us-west-2, and a deployment whose Spot rules cover its own region (us-east-1) only
    cluster = local_system.add_cluster(ClusterSpec.parse("checks-far.k8s.local:kops=1.21,nodes=1,region=us-west-2"))
    before = system_state(local_system)
    # When it is onboarded
    result = onboard(local_system, cluster)
    # Then ValidateCluster refuses it, naming the region and the setting, and the rollback ran as for any
    # validation failure
    assert (result.status, result.error) == ("FAILED", "RegionNotCovered"), (result.error, result.cause)
    assert "us-west-2" in result.cause and "spotRegions: us-east-1" in result.cause
    steps = entered(local_system, result)
    assert "ValidateCluster" in steps and "RollbackRegistry" in steps and "CreateIamEntities" not in steps
    # and nothing was created, here or in the cluster's region
    assert_same(before, system_state(local_system))
    ec2 = local_system.aws.client("ec2", "us-west-2")
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"cast-kops-{cluster.name}"]}])[
        "KeyPairs"
    ]
