"""Spot interruptions through EventBridge -> SQS -> the real handler (moto server) -> a seeded kOps cluster
on the Kubernetes API emulator: cordon + taint in one patch, deadline-aware drain, dedup, ignored events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from kops_lambda.constants import (
    EXCLUDE_FROM_LB_LABEL,
    SPOT_EVENT_REASON_DRAIN_INCOMPLETE,
    SPOT_EVENT_REASON_INTERRUPTION,
    SPOT_TAINT_KEY,
)
from kops_local.seed import SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from tests.e2e import spot_support as support
from tests.e2e.spot_support import REBALANCE

APP = "shop"
LEDGER = "ledger"


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    # Nodes named by instance id: never the instance's private DNS name.
    onboarded = support.onboard(local_system, "drain.k8s.local:kops=1.21,nodes=6,pods=6,naming=id")
    warm_spot_handler(local_system, onboarded)
    return onboarded


def warm_spot_handler(system: LocalSystem, cluster: LocalCluster) -> None:
    """Start the Spot handler's container with an event it ignores (an instance of no cluster): the deadline
    case leaves the drain 5 s, which a cold start (imports, SDK clients) takes a good part of on a busy
    machine, as on Lambda; the cases here are about a warm handler."""
    ec2 = system.aws.client("ec2")
    instance_id = support.spot_workers(cluster)[0].instance_id
    image = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["ImageId"]
    plain = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    support.put(system, support.state_change_entry(system, plain, "shutting-down"))
    system.aws.drain_event_sources(timeout=60)
    ec2.terminate_instances(InstanceIds=[plain])


@pytest.fixture(autouse=True)
def controllers(local_system: LocalSystem, cluster: LocalCluster) -> Iterator[None]:
    yield
    local_system.aws.drain_event_sources(timeout=60)
    on_demand = next(i for i in cluster.aws.workers if i.lifecycle == "on-demand")
    support.reschedule_evicted(cluster, on_demand)


def ours(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in node["spec"].get("taints") or [] if t["key"] == SPOT_TAINT_KEY]


def _ledger(cluster: LocalCluster, instance: SeededInstance) -> list[str]:
    """A Deployment of 3 replicas, all on this node, whose PDB keeps 2 available."""
    store = cluster.api_server.store
    labels = {"app": LEDGER}
    deployment = store.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": LEDGER, "namespace": APP, "labels": labels},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "l", "image": "l:1"}]}},
            },
        }
    )
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": LEDGER, "uid": deployment["metadata"]["uid"]}
    store.create(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": LEDGER, "namespace": APP},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": labels}},
        }
    )
    names = [f"{LEDGER}-{i}" for i in range(3)]
    for name in names:
        store.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": APP,
                    "labels": labels,
                    "ownerReferences": [owner | {"controller": True}],
                },
                "spec": {
                    "nodeName": cluster.kube.node_name(instance.instance_id),
                    "terminationGracePeriodSeconds": 60,
                    "containers": [{"name": "l", "image": "l:1"}],
                },
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    return names


def test_a_warning_drains_as_the_budgets_allow_and_reports_the_rest_at_the_deadline(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given a Spot worker with Deployment pods, a DaemonSet pod, a mirror pod, and a set of 3 pods whose
    # PodDisruptionBudget (minAvailable 2) allows one eviction
    spot = support.spot_workers(cluster)[0]
    ledger = _ledger(cluster, spot)
    before = {p["metadata"]["name"]: p for p in support.pods_on(cluster, spot)}
    assert any("kubernetes.io/config.mirror" in (p["metadata"].get("annotations") or {}) for p in before.values())
    assert any(o["kind"] == "DaemonSet" for p in before.values() for o in p["metadata"].get("ownerReferences", []))
    cluster.api_server.clear_requests()
    # When its interruption warning arrives 100 s after EC2 sent it (5 s before the drain deadline)
    warning = support.entry(local_system, spot, age=100)
    support.put(local_system, warning)
    local_system.aws.drain_event_sources(timeout=60)  # a hang guard: how long the drain took is not asserted
    # Then the node was cordoned, tainted and taken out of the load balancers in one PATCH, found by its
    # providerID although its name is the instance id, not its DNS name
    node = support.node(cluster, spot)
    assert node["metadata"]["name"] == spot.instance_id != spot.private_dns_name
    assert node["spec"]["unschedulable"] is True
    assert [t["effect"] for t in ours(node)] == ["NoSchedule"]
    assert node["metadata"]["labels"][EXCLUDE_FROM_LB_LABEL] == "true"
    node_calls = [r for r in cluster.api_server.requests if r.path.startswith("/api/v1/nodes")]
    (patch,) = [r for r in node_calls if r.method == "PATCH"]
    assert patch.body["spec"]["unschedulable"] is True
    assert patch.body["spec"]["taints"][-1]["key"] == SPOT_TAINT_KEY
    assert patch.body["metadata"]["labels"] == {EXCLUDE_FROM_LB_LABEL: "true"}
    # (before it, one GET per name kOps may have given the node, until one matched the providerID)
    assert [(r.method, r.status) for r in node_calls if r.method == "GET"][-1] == ("GET", 200)
    # And every app pod left but two of the ledger; the DaemonSet and mirror pods stayed
    after = {p["metadata"]["name"] for p in support.pods_on(cluster, spot)}
    left_ledger = sorted(set(ledger) & after)
    assert len(left_ledger) == 2
    assert all(p["metadata"]["namespace"] != APP or name in ledger for name, p in before.items() if name in after)
    kept = {name for name in after if name not in ledger}
    assert kept == {
        n for n, p in before.items() if p["metadata"]["namespace"] != APP or p["status"]["phase"] != "Running"
    }
    # And each eviction's grace period fit in the time left (the ledger asks for 60 s)
    graces = [r.grace_period_seconds for r in cluster.api_server.requests if r.path.endswith("/eviction")]
    assert graces and max(g or 0 for g in graces) <= 6
    # And the drain ran against the deadline it announced on the node, the event's time + 120 s minus the
    # 15 s margin, retrying the refused ledger pods to the end, then gave up, saying which pods are left and why
    deadline = (warning["Time"] + timedelta(seconds=105)).strftime("%H:%M:%SZ")
    events = support.node_events(cluster, spot)
    (interruption,) = [e for e in events if e["reason"] == SPOT_EVENT_REASON_INTERRUPTION]
    assert f"draining until {deadline}" in interruption["message"], interruption["message"]
    for name in left_ledger:
        tries = [r.status for r in cluster.api_server.requests if r.path.endswith(f"/pods/{name}/eviction")]
        assert len(tries) >= 2 and set(tries) == {429}, (name, tries)
    (incomplete,) = [e for e in events if e["reason"] == SPOT_EVENT_REASON_DRAIN_INCOMPLETE]
    for name in left_ledger:
        assert f"{APP}/{name} (disruption budget)" in incomplete["message"]
    assert 2 in support.emf_metric(local_system, "PodsLeftAtDeadline")
    # And the instance left its ASG without lowering the desired capacity: the replacement is on its way
    autoscaling: Any = local_system.aws.client("autoscaling")
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[spot.asg_name])["AutoScalingGroups"]
    assert spot.instance_id not in {i["InstanceId"] for i in group["Instances"]}
    assert spot.asg_name in incomplete["message"]


def test_the_same_event_twice_and_follow_ups_drain_once(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # Given a Spot worker, and one warning as EventBridge delivers it
    spot = support.spot_workers(cluster)[1]
    body = support.delivered_body(local_system, spot)
    # When SQS delivers that very event twice, EC2 repeats the warning, and the instance starts shutting down
    support.send_to_queue(local_system, body)
    support.send_to_queue(local_system, body)
    (repeated_warning,) = support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=60)
    support.put(local_system, support.state_change_entry(local_system, spot.instance_id, "shutting-down"))
    local_system.aws.drain_event_sources(timeout=60)
    # Then the node was drained exactly once
    assert support.pod_lists_for(cluster, spot) == 1
    reasons = [e["reason"] for e in support.node_events(cluster, spot)]
    assert reasons.count("DrainComplete") == 1
    assert not [p for p in support.pods_on(cluster, spot) if p["metadata"]["namespace"] == APP]
    assert sum(support.emf_metric(local_system, "DuplicateEvents")) >= 3
    # The taint names the warning that won the race (records of one batch run in parallel), never the follow-up
    assert ours(support.node(cluster, spot))[0]["value"] in {json.loads(body)["id"], repeated_warning}


def test_a_rebalance_then_a_warning_taints_then_drains_once(local_system: LocalSystem, cluster: LocalCluster) -> None:
    spot = support.spot_workers(cluster)[2]
    # When a rebalance recommendation arrives
    support.put(local_system, support.entry(local_system, spot, detail_type=REBALANCE))
    local_system.aws.drain_event_sources(timeout=60)
    # Then the node is only tainted PreferNoSchedule: schedulable, serving, pods in place
    node = support.node(cluster, spot)
    assert [t["effect"] for t in ours(node)] == ["PreferNoSchedule"]
    assert not node["spec"].get("unschedulable")
    assert support.pod_lists_for(cluster, spot) == 0
    # When the interruption warning follows (twice), then the node is cordoned and drained once
    support.put(local_system, support.entry(local_system, spot), support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=60)
    node = support.node(cluster, spot)
    assert [t["effect"] for t in ours(node)] == ["NoSchedule"]
    assert node["spec"]["unschedulable"] is True
    # On failure, the handler's lines for the instance say which records took the drain.
    handled = [line for line in local_system.aws.captured_logs if spot.instance_id in line]
    assert support.pod_lists_for(cluster, spot) == 1, "\n".join(handled[-40:])


def test_an_event_older_than_two_minutes_only_cordons(local_system: LocalSystem, cluster: LocalCluster) -> None:
    spot = support.spot_workers(cluster)[3]
    before = sorted(p["metadata"]["name"] for p in support.pods_on(cluster, spot))
    support.put(local_system, support.entry(local_system, spot, age=125))
    local_system.aws.drain_event_sources(timeout=60)
    assert support.node(cluster, spot)["spec"]["unschedulable"] is True
    assert sorted(p["metadata"]["name"] for p in support.pods_on(cluster, spot)) == before
    assert support.pod_lists_for(cluster, spot) == 0


def test_a_stopping_instance_is_drained_and_other_states_never_reach_the_handler(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    spot = support.spot_workers(cluster)[4]
    # When EC2 reports the instance running (the rule filters that state), then stopping
    support.put(local_system, support.state_change_entry(local_system, spot.instance_id, "running"))
    local_system.aws.drain_event_sources(timeout=60)
    assert not support.node(cluster, spot)["spec"].get("unschedulable")
    support.put(local_system, support.state_change_entry(local_system, spot.instance_id, "stopping"))
    local_system.aws.drain_event_sources(timeout=60)
    # Then the node was drained (the state change's action), once
    assert support.node(cluster, spot)["spec"]["unschedulable"] is True
    assert support.pod_lists_for(cluster, spot) == 1
    assert not [p for p in support.pods_on(cluster, spot) if p["metadata"]["namespace"] == APP]
