"""A Spot warning put on the event bus reaches the real handler through the rule and the queue."""

import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import run_execution
from kops_onboard.spot_events import spot_event_entry


def _wait(probe: Callable[[], bool], timeout: float = 180.0) -> bool:
    """Whether `probe` came true; `timeout` is a hang guard, not a bound on how fast the Spot path is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.05)
    return False


def _node_for(cluster: LocalCluster, instance_id: str) -> k8s.V1Node:
    instance = next(i for i in cluster.aws.instances if i.instance_id == instance_id)
    with cluster.api_client() as api:
        nodes = k8s.CoreV1Api(api).list_node().items
    return next(n for n in nodes if n.spec.provider_id == f"aws:///{instance.az}/{instance_id}")


def _put_warning(system: LocalSystem, instance_id: str) -> None:
    entry = spot_event_entry(instance_id=instance_id, region=system.region, account=system.aws.account_id)
    response = system.aws.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0


@pytest.fixture(scope="module")
def onboarded(local_system: LocalSystem) -> LocalCluster:
    # Nodes named by instance id: the handler must not rely on private DNS names.
    cluster = local_system.add_cluster(ClusterSpec.parse("spot.k8s.local:kops=1.22,nodes=3,naming=id"))
    result = run_execution(
        local_system.aws.client("stepfunctions"),
        local_system.state_machines["onboard"],
        cluster.onboard_input(),
        name_prefix="e2e-spot",
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # The handler drains after the cordon: with the seeded frontend budget, the second Spot node's drain would
    # wait out its whole window (and hold the serialized local Lambda runtime). Budgets: test_spot_drain.py.
    cluster.api_server.store.delete("policy/v1/poddisruptionbudgets", cluster.kube.app_namespace, cluster.kube.pdb_name)
    return cluster


def test_spot_warning_cordons_the_instances_node(local_system: LocalSystem, onboarded: LocalCluster) -> None:
    # Given an onboarded cluster and one of its Spot instances
    spot = next(i for i in onboarded.aws.instances if i.lifecycle == "spot")
    assert not _node_for(onboarded, spot.instance_id).spec.unschedulable
    # When EC2's interruption warning for it is put on the bus
    _put_warning(local_system, spot.instance_id)
    # Then its node is cordoned, tainted and excluded from load balancers
    assert _wait(lambda: bool(_node_for(onboarded, spot.instance_id).spec.unschedulable))
    node = _node_for(onboarded, spot.instance_id)
    assert any(t.key == "kops-onboard.io/spot-interruption" and t.effect == "NoSchedule" for t in node.spec.taints)
    assert node.metadata.labels["node.kubernetes.io/exclude-from-external-load-balancers"] == "true"
    # And no other node was touched
    others = [i for i in onboarded.aws.instances if i.instance_id != spot.instance_id]
    assert not any(_node_for(onboarded, i.instance_id).spec.unschedulable for i in others if i.role == "node")


def test_instance_of_a_cluster_not_onboarded_is_ignored(local_system: LocalSystem, onboarded: LocalCluster) -> None:
    # Given a seeded cluster that was never onboarded
    stranger = local_system.add_cluster(ClusterSpec.parse("stranger.k8s.local:nodes=2"))
    spot = next(i for i in stranger.aws.instances if i.lifecycle == "spot")
    # When a warning for its instance arrives, followed by one for an onboarded cluster's instance
    _put_warning(local_system, spot.instance_id)
    # (a different Spot node than the previous test's, so its cordon proves the queue moved past ours)
    marker = [i for i in onboarded.aws.instances if i.lifecycle == "spot" and i.role == "node"][-1]
    assert not _node_for(onboarded, marker.instance_id).spec.unschedulable
    _put_warning(local_system, marker.instance_id)
    assert _wait(lambda: bool(_node_for(onboarded, marker.instance_id).spec.unschedulable))
    # Then the stranger's node was left alone
    assert not _node_for(stranger, spot.instance_id).spec.unschedulable
