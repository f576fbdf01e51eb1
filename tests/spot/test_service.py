"""One interruption end to end in-process: moto (EC2, ASG, DynamoDB) and a seeded kOps cluster on the
Kubernetes API server of `--kube`."""

from __future__ import annotations

from typing import Any

import pytest

from kops_lambda.constants import (
    EXCLUDE_FROM_LB_LABEL,
    OUT_OF_SERVICE_TAINT_KEY,
    OUT_OF_SERVICE_TAINT_VALUE,
    SPOT_TAINT_KEY,
)
from kops_lambda.errors import KubeApiUnavailable
from kops_lambda.logic.spot.service import handle_interruption
from kops_lambda.settings import SpotAction, SpotSettings
from tests.spot.conftest import (
    CAPACITY_RESERVATION,
    DEDUP_TABLE,
    REBALANCE,
    STATE_CHANGE,
    WARNING,
    Cluster,
    ec2_event,
    register,
)

DEFAULTS = SpotSettings()


def ours(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in node["spec"].get("taints") or [] if t["key"] == SPOT_TAINT_KEY]


def pod_lists(cluster: Cluster) -> int:
    return sum(1 for r in cluster.kube.requests if r.method == "GET" and r.path == "/api/v1/pods")


def app_pods(cluster: Cluster, instance: Any) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.pods_on(instance) if p["metadata"]["namespace"] == "shop"]


def test_a_warning_cordons_taints_and_drains_the_node(cluster: Cluster) -> None:
    # Given an onboarded cluster and one of its Spot workers, with app pods, a DaemonSet pod and a mirror pod
    spot = cluster.spot_workers[0]
    kinds_before = {p["metadata"]["name"] for p in cluster.pods_on(spot)}
    event = ec2_event(WARNING, instance_id=spot.instance_id, age=3)
    # When the interruption warning is handled
    outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    # Then the node is cordoned, tainted with the event id and out of external load balancers
    node = cluster.node(spot)
    assert node["spec"]["unschedulable"] is True
    assert ours(node) == [{"key": SPOT_TAINT_KEY, "value": event.id, "effect": "NoSchedule"}]
    assert node["metadata"]["labels"][EXCLUDE_FROM_LB_LABEL] == "true"
    # And every app pod was evicted, the DaemonSet and mirror pods stayed
    assert outcome.result == "drained", outcome
    assert app_pods(cluster, spot) == []
    left = {p["metadata"]["name"] for p in cluster.pods_on(spot)}
    assert left < kinds_before
    assert any(name.startswith("kube-proxy") for name in left)
    assert outcome.pods_evicted == len(kinds_before) - len(left)
    assert outcome.cluster_name == cluster.aws.name
    assert outcome.node_name == cluster.node_name(spot)
    assert outcome.cordon_ms is not None
    # And the calls before the first eviction were: GET node, one PATCH, one LIST of its pods
    first = [(r.method, r.path) for r in cluster.kube.requests if not r.path.endswith("/events")][:3]
    assert first == [
        ("GET", f"/api/v1/nodes/{cluster.node_name(spot)}"),
        ("PATCH", f"/api/v1/nodes/{cluster.node_name(spot)}"),
        ("GET", "/api/v1/pods"),
    ]
    # And Kubernetes Events on the node say what happened
    reasons = sorted(e["reason"] for e in cluster.node_events(spot))
    assert reasons == ["DrainComplete", "SpotInterruption"]


def test_a_warning_requests_the_replacement_early(cluster: Cluster) -> None:
    # Given a Spot worker in its ASG
    spot = cluster.spot_workers[0]
    autoscaling = cluster.clients("autoscaling")
    before = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[spot.asg_name])["AutoScalingGroups"][0]
    # When its interruption warning is handled
    outcome = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    # Then it left the group and the group kept its desired capacity (the replacement starts now)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[spot.asg_name])["AutoScalingGroups"][0]
    assert spot.instance_id not in {i["InstanceId"] for i in group["Instances"]}
    assert group["DesiredCapacity"] == before["DesiredCapacity"]
    assert outcome.replacement.startswith("replacement requested")
    (drained,) = [e for e in cluster.node_events(spot) if e["reason"] == "DrainComplete"]
    assert spot.asg_name in drained["message"]


def test_duplicates_and_follow_ups_of_one_interruption_drain_once(cluster: Cluster) -> None:
    spot = cluster.spot_workers[0]
    deps = cluster.deps()
    warning = ec2_event(WARNING, instance_id=spot.instance_id)
    # When the same warning arrives twice, then another warning and a state change for the same instance
    first = handle_interruption(warning, settings=DEFAULTS, deps=deps)
    again = handle_interruption(warning, settings=DEFAULTS, deps=deps)
    second = handle_interruption(ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=deps)
    state = handle_interruption(ec2_event(STATE_CHANGE, instance_id=spot.instance_id), settings=DEFAULTS, deps=deps)
    # Then only the first drained; the others are duplicates pointing at it
    assert first.result == "drained"
    assert [o.result for o in (again, second, state)] == ["duplicate"] * 3
    assert {o.duplicate_of for o in (again, second, state)} == {warning.id}
    assert pod_lists(cluster) == 1
    assert [e["reason"] for e in cluster.node_events(spot)].count("DrainComplete") == 1


def test_a_rebalance_then_a_warning_taints_then_drains_once(cluster: Cluster) -> None:
    spot = cluster.spot_workers[0]
    deps = cluster.deps()
    # When a rebalance recommendation arrives
    rebalance = handle_interruption(ec2_event(REBALANCE, instance_id=spot.instance_id), settings=DEFAULTS, deps=deps)
    # Then the node is only tainted PreferNoSchedule: still schedulable, still in the load balancers
    node = cluster.node(spot)
    assert rebalance.result == "tainted"
    assert [t["effect"] for t in ours(node)] == ["PreferNoSchedule"]
    assert not node["spec"].get("unschedulable")
    assert EXCLUDE_FROM_LB_LABEL not in node["metadata"]["labels"]
    assert app_pods(cluster, spot)
    # When the warning follows, then a second rebalance
    warning = handle_interruption(ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=deps)
    late = handle_interruption(ec2_event(REBALANCE, instance_id=spot.instance_id), settings=DEFAULTS, deps=deps)
    # Then the node was drained once and the taint is NoSchedule (the later rebalance did not weaken it)
    assert warning.result == "drained"
    assert late.result == "duplicate"
    assert [t["effect"] for t in ours(cluster.node(spot))] == ["NoSchedule"]
    assert pod_lists(cluster) == 1


def test_a_weaker_action_after_a_stronger_one_touches_nothing(cluster: Cluster) -> None:
    # Given a drained node, and dedup records gone (TTL): a rebalance for it is planned afresh
    spot = cluster.spot_workers[0]
    handle_interruption(ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps())
    cluster.kube.clear_requests()
    outcome = handle_interruption(
        ec2_event(REBALANCE, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps(dedup=False)
    )
    # Then nothing was patched
    assert outcome.result == "unchanged"
    assert not [r for r in cluster.kube.requests if r.method == "PATCH"]


def test_instances_of_other_or_not_onboarded_clusters_are_ignored(cluster: Cluster) -> None:
    ec2 = cluster.clients("ec2")
    # Given an instance without kOps tags, and an instance of a cluster that is still onboarding
    spot = cluster.spot_workers[0]
    reservation = ec2.describe_instances(InstanceIds=[spot.instance_id])["Reservations"][0]
    image = reservation["Instances"][0]["ImageId"]
    plain = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    register(cluster.clients, cluster.aws.name, status="ONBOARDING")
    # When warnings for both are handled
    stranger = handle_interruption(ec2_event(WARNING, instance_id=plain), settings=DEFAULTS, deps=cluster.deps())
    pending = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    # Then both are acknowledged as ignored, with their reason, and the API server saw nothing
    assert (stranger.result, stranger.reason) == ("ignored", "instance carries no kOps cluster tag")
    assert (pending.result, pending.reason) == ("ignored", "cluster not onboarded")
    assert cluster.kube.requests == []


def test_an_event_older_than_the_window_only_cordons(cluster: Cluster) -> None:
    spot = cluster.spot_workers[0]
    before = app_pods(cluster, spot)
    outcome = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id, age=130), settings=DEFAULTS, deps=cluster.deps()
    )
    assert (outcome.action, outcome.result) == ("cordon", "cordoned")
    assert "no time left to drain" in outcome.reason
    assert cluster.node(spot)["spec"]["unschedulable"] is True
    assert app_pods(cluster, spot) == before
    assert not [r for r in cluster.kube.requests if r.path.endswith("/eviction")]


def test_dry_run_reads_but_writes_nothing(cluster: Cluster) -> None:
    spot = cluster.spot_workers[0]
    outcome = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id), settings=SpotSettings(dry_run=True), deps=cluster.deps()
    )
    assert outcome.result == "dry-run"
    assert "would drain the node and evict" in outcome.reason
    assert {r.method for r in cluster.kube.requests} == {"GET"}
    assert not cluster.node(spot)["spec"].get("unschedulable")
    assert cluster.clients("dynamodb").scan(TableName=DEDUP_TABLE)["Count"] == 0


def test_a_node_named_neither_by_dns_nor_by_id_is_found_by_its_provider_id(cluster: Cluster) -> None:
    # Given a Spot worker whose Node was registered under a custom name
    spot = cluster.spot_workers[0]
    node = cluster.node(spot)
    cluster.kube.store.delete("v1/nodes", None, node["metadata"]["name"])
    node["metadata"] = {"name": "custom-worker-7", "labels": node["metadata"]["labels"]}
    cluster.kube.store.create(node)
    # And another Node that claims the instance's DNS name but has another providerID
    decoy = cluster.node(cluster.spot_workers[1])
    decoy["metadata"] = {"name": spot.private_dns_name, "labels": {}}
    decoy["spec"]["providerID"] = "aws:///us-east-1a/i-0000000000000000f"
    cluster.kube.store.create(decoy)
    # And the kubelet stand-in done with the new nodes (Ready, admission's not-ready taint lifted): its
    # conditional patch racing ours would make ours a 409 and add a re-read after the list
    cluster.kube.settle()
    cluster.kube.clear_requests()
    # When a rebalance recommendation for the instance is handled
    outcome = handle_interruption(
        ec2_event(REBALANCE, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    # Then the right node was tainted, after the name guesses failed verification, and the decoy was not
    assert outcome.node_name == "custom-worker-7"
    stored = cluster.kube.store.get("v1/nodes", None, "custom-worker-7")
    assert stored is not None and ours(stored)
    assert not ours(cluster.kube.store.get("v1/nodes", None, spot.private_dns_name) or {"spec": {}})
    assert [r.path for r in cluster.kube.requests if r.method == "GET"][-1] == "/api/v1/nodes"


def test_a_failed_drain_is_not_blocked_by_the_dedup_record(cluster: Cluster) -> None:
    # Given an API server that fails the pod list (after the cordon) once
    spot = cluster.spot_workers[0]
    cluster.kube.inject_fault(method="GET", path_pattern="^/api/v1/pods$", status=503)
    event = ec2_event(WARNING, instance_id=spot.instance_id)
    # When the warning is handled, it fails with a retryable error
    with pytest.raises(KubeApiUnavailable):
        handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    assert cluster.clients("dynamodb").scan(TableName=DEDUP_TABLE)["Count"] == 0
    # And its retry (the server is back) drains the node
    retried = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    assert retried.result == "drained"
    assert app_pods(cluster, spot) == []


def test_a_concurrent_edit_of_the_node_is_not_lost(cluster: Cluster) -> None:
    # Given another controller adding a taint between our read and our patch (one 409, then a fresh read)
    spot = cluster.spot_workers[0]
    name = cluster.node_name(spot)
    added: list[bool] = []

    def concurrent_writer(request: Any) -> None:
        if request.method == "PATCH" and not added:
            added.append(True)
            cluster.kube.store.mutate(
                "v1/nodes",
                None,
                name,
                lambda node: (
                    node["spec"]
                    .setdefault("taints", [])
                    .append({"key": "example.com/maintenance", "effect": "NoSchedule"})
                ),
            )

    cluster.kube.before_request(concurrent_writer)
    # When a warning is handled
    outcome = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    # Then both taints are on the node
    assert outcome.result == "drained"
    keys = {t["key"] for t in cluster.node(spot)["spec"]["taints"]}
    assert keys == {"example.com/maintenance", SPOT_TAINT_KEY}
    assert [r.status for r in cluster.kube.requests if r.method == "PATCH"] == [409, 200]


def out_of_service(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in node["spec"].get("taints") or [] if t["key"] == OUT_OF_SERVICE_TAINT_KEY]


def test_a_capacity_reservation_warning_drains_an_on_demand_worker(cluster: Cluster) -> None:
    # Given the on-demand worker of the cluster, in an interruptible Capacity Reservation being reclaimed
    (on_demand,) = [i for i in cluster.aws.instances if i.lifecycle == "on-demand" and i.role == "node"]
    event = ec2_event(CAPACITY_RESERVATION, instance_id=on_demand.instance_id)
    # When its interruption warning is handled
    outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    # Then its node is cordoned and drained like a Spot node's, and its replacement requested early
    assert (outcome.kind, outcome.result) == ("capacity-reservation", "drained"), outcome
    assert cluster.node(on_demand)["spec"]["unschedulable"] is True
    assert outcome.pods_evicted > 0 and outcome.pods_left == 0
    assert outcome.replacement.startswith("replacement requested")
    (warned,) = [e for e in cluster.node_events(on_demand) if e["reason"] == "SpotInterruption"]
    assert warned["message"].startswith("EC2 Capacity Reservation Instance Interruption Warning")
    # And a second warning of the same interruption (a Spot warning says the same) drains nothing more
    again = handle_interruption(
        ec2_event(CAPACITY_RESERVATION, instance_id=on_demand.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    assert (again.result, again.duplicate_of) == ("duplicate", event.id)
    assert pod_lists(cluster) == 1


def test_a_capacity_reservation_warning_for_a_spot_instance_is_rejected(cluster: Cluster) -> None:
    # Given a Spot worker (reservations hold On-Demand instances only)
    spot = cluster.spot_workers[0]
    # When a Capacity Reservation warning names it
    outcome = handle_interruption(
        ec2_event(CAPACITY_RESERVATION, instance_id=spot.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    # Then it is rejected before any write or Kubernetes call
    assert (outcome.result, outcome.reason) == ("rejected", "Capacity Reservation warning for a Spot instance")
    assert cluster.kube.requests == []
    assert cluster.clients("dynamodb").scan(TableName=DEDUP_TABLE)["Count"] == 0


def test_the_out_of_service_taint_follows_the_drain_of_a_terminating_instance(cluster: Cluster) -> None:
    settings = SpotSettings(out_of_service_taint=True)
    terminating, stopping = cluster.spot_workers[:2]
    # When a terminating and a stopping instance's warnings are handled with the option on
    gone = handle_interruption(
        ec2_event(WARNING, instance_id=terminating.instance_id), settings=settings, deps=cluster.deps()
    )
    paused = handle_interruption(
        ec2_event(WARNING, instance_id=stopping.instance_id, detail={"instance-action": "stop"}),
        settings=settings,
        deps=cluster.deps(),
    )
    # Then both were drained; only the node that goes for good is tainted out-of-service, beside our taint
    assert (gone.result, paused.result) == ("drained", "drained")
    node = cluster.node(terminating)
    assert out_of_service(node) == [
        {"key": OUT_OF_SERVICE_TAINT_KEY, "value": OUT_OF_SERVICE_TAINT_VALUE, "effect": "NoExecute"}
    ]
    assert [t["effect"] for t in ours(node)] == ["NoSchedule"]
    assert (gone.out_of_service, paused.out_of_service) == (True, False)
    assert out_of_service(cluster.node(stopping)) == []
    (drained,) = [e for e in cluster.node_events(terminating) if e["reason"] == "DrainComplete"]
    assert "; tainted out-of-service" in drained["message"]


def test_the_out_of_service_taint_is_off_by_default_and_never_after_a_cordon(cluster: Cluster) -> None:
    drained, cordoned = cluster.spot_workers[:2]
    default = handle_interruption(
        ec2_event(WARNING, instance_id=drained.instance_id), settings=DEFAULTS, deps=cluster.deps()
    )
    cordon_only = handle_interruption(
        ec2_event(WARNING, instance_id=cordoned.instance_id),
        settings=SpotSettings(out_of_service_taint=True, warning_action=SpotAction.CORDON),
        deps=cluster.deps(),
    )
    assert (default.result, cordon_only.result) == ("drained", "cordoned")
    assert out_of_service(cluster.node(drained)) == out_of_service(cluster.node(cordoned)) == []


def test_a_failed_out_of_service_taint_leaves_the_drain_done(cluster: Cluster) -> None:
    # Given an API server that refuses the second node patch (the taint after the drain)
    spot = cluster.spot_workers[0]
    patches: list[str] = []

    def refuse_second_patch(request: Any) -> None:  # hooks run before faults: this one answers the request
        if request.method == "PATCH" and request.path.startswith("/api/v1/nodes/"):
            patches.append(request.path)
            if len(patches) == 2:
                cluster.kube.inject_fault(method="PATCH", path_pattern="^/api/v1/nodes/", status=403)

    cluster.kube.before_request(refuse_second_patch)
    outcome = handle_interruption(
        ec2_event(WARNING, instance_id=spot.instance_id),
        settings=SpotSettings(out_of_service_taint=True),
        deps=cluster.deps(),
    )
    # Then the drain's outcome stands, without the taint, and nothing is retried
    assert (outcome.result, outcome.out_of_service) == ("drained", False)
    assert app_pods(cluster, spot) == []
    assert out_of_service(cluster.node(spot)) == []
    assert len(patches) == 2
