"""The synthesized onboarding state machine, executed by moto, invoking our real handlers."""

from typing import Any

import pytest

from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import run_execution
from tests.e2e.kubeconfig import kubeconfig_secret_for


def _onboard(system: LocalSystem, payload: dict[str, Any]) -> Any:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], payload, name_prefix="e2e"
    )


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("wf.k8s.local:kops=1.21,nodes=3"))


def test_seeded_cluster_onboards_with_discovered_facts(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # Given a seeded kOps 1.21 cluster
    # When the onboarding state machine runs on its ready-made input
    result = _onboard(local_system, cluster.onboard_input())
    # Then it succeeds and its output carries what the validate step discovered
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    facts = result.output["cluster"]
    assert facts["cluster_name"] == cluster.name
    assert facts["vpc_id"] == cluster.aws.vpc_id
    assert facts["kops_version"].startswith("1.21")
    assert facts["kops_version_source"] == "state-store"
    assert sorted(facts["subnet_ids"]) == sorted(cluster.aws.subnet_ids.values())
    assert {g["asg_name"] for g in facts["instance_groups"]} == set(cluster.aws.asg_names)
    seeded_ids = {i.instance_id for i in cluster.aws.instances}
    assert {i for g in facts["instance_groups"] for i in g["instance_ids"]} == seeded_ids
    assert result.output["registry"]["status"] == "ONBOARDED"
    # And the registry records the cluster as onboarded
    table = local_system.aws.client("dynamodb")
    item = table.get_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{cluster.name}"}},
    )["Item"]
    assert item["status"]["S"] == "ONBOARDED"


def test_version_is_read_from_user_data_without_a_state_store(local_system: LocalSystem, cluster: LocalCluster) -> None:
    payload = {k: v for k, v in cluster.onboard_input().items() if k != "state_store"}
    result = _onboard(local_system, payload)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["cluster"]["kops_version_source"] == "user-data"
    assert result.output["cluster"]["kops_version"].startswith("1.21")


def test_unknown_cluster_fails_with_cluster_not_found(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # A kubeconfig under the unknown cluster's own name (another cluster's name is InvalidInput)
    secret = kubeconfig_secret_for(local_system, "nope.k8s.local", copy_of=cluster)
    payload = {**cluster.onboard_input(), "cluster_name": "nope.k8s.local", "kubeconfig_secret_arn": secret}
    result = _onboard(local_system, payload)
    assert result.status == "FAILED"
    assert result.error == "ClusterNotFound"
    assert "nope.k8s.local" in (result.cause or "")


def test_unsupported_kops_version_fails_with_a_clear_error(local_system: LocalSystem) -> None:
    old = local_system.add_cluster(ClusterSpec.parse("old.k8s.local:kops=1.16,nodes=1"))
    result = _onboard(local_system, old.onboard_input())
    assert result.status == "FAILED"
    assert result.error == "UnsupportedKopsVersion"
    assert "1.16" in (result.cause or "") and "1.22" in (result.cause or "")


def test_malformed_input_fails_with_invalid_input_naming_the_field(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    payload = {**cluster.onboard_input(), "cluster_name": "Not A DNS Name", "extra": 1}
    result = _onboard(local_system, payload)
    assert result.status == "FAILED"
    assert result.error == "InvalidInput"
    assert "cluster_name" in (result.cause or "") and "extra" in (result.cause or "")
