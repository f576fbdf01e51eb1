"""Events beyond the Spot warning, through EventBridge -> SQS -> the real handler: an interruptible Capacity
Reservation's warning drains an on-demand worker (and is rejected for a Spot one), the out-of-service taint
follows the drain of an instance that goes for good, and an ASG termination lifecycle action of our hook drains
the node, then continues (another hook's never reaches the handler)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kops_lambda.constants import DEFAULT_LIFECYCLE_HOOK_NAME, ENV_SPOT_OUT_OF_SERVICE_TAINT, OUT_OF_SERVICE_TAINT_KEY
from kops_local.seed import SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.spot_events import CAPACITY_RESERVATION_WARNING
from tests.e2e import spot_support as support


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return support.onboard_without_budget(local_system, "kinds.k8s.local:kops=1.22,nodes=6,spot=3,pods=2,naming=id")


def _handled(system: LocalSystem, *entries: dict[str, Any]) -> list[dict[str, Any]]:
    """Put the events on the bus, wait for the handler, return its outcome line for each."""
    event_ids = support.put(system, *entries)
    system.aws.drain_event_sources(timeout=60)
    outcomes = []
    for event_id in event_ids:
        (line,) = [line for line in support.handler_lines(system, event_id) if line.get("result")]
        outcomes.append(line)
    return outcomes


def _on_demand_workers(cluster: LocalCluster) -> list[SeededInstance]:
    return [i for i in cluster.aws.workers if i.lifecycle == "on-demand"]


def _out_of_service(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in node["spec"].get("taints") or [] if t["key"] == OUT_OF_SERVICE_TAINT_KEY]


def test_a_capacity_reservation_warning_drains_the_on_demand_worker(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given an on-demand worker in an interruptible Capacity Reservation, with app pods
    worker = _on_demand_workers(cluster)[0]
    assert [p for p in support.pods_on(cluster, worker) if p["metadata"]["namespace"] == cluster.kube.app_namespace]
    # When EC2's Capacity Reservation interruption warning for it is put on the bus
    (outcome,) = _handled(local_system, support.entry(local_system, worker, detail_type=CAPACITY_RESERVATION_WARNING))
    # Then the rule delivered it and the handler drained the node
    assert (outcome["kind"], outcome["result"]) == ("capacity-reservation", "drained"), outcome
    assert support.node(cluster, worker)["spec"]["unschedulable"] is True
    assert outcome["pods_evicted"] > 0 and outcome["pods_left"] == 0
    # And the out-of-service taint stays off by default
    assert _out_of_service(support.node(cluster, worker)) == []


def test_a_capacity_reservation_warning_for_a_spot_instance_is_rejected(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    spot = support.spot_workers(cluster)[0]
    rejected_before = sum(support.emf_metric(local_system, "RejectedEvents"))
    (outcome,) = _handled(local_system, support.entry(local_system, spot, detail_type=CAPACITY_RESERVATION_WARNING))
    assert (outcome["result"], outcome["reason"]) == ("rejected", "Capacity Reservation warning for a Spot instance")
    assert sum(support.emf_metric(local_system, "RejectedEvents")) == rejected_before + 1
    assert not support.node(cluster, spot)["spec"].get("unschedulable")


@pytest.fixture
def out_of_service_taint(local_system: LocalSystem) -> Iterator[None]:
    with support.spot_handler_environment(local_system, **{ENV_SPOT_OUT_OF_SERVICE_TAINT: "true"}):
        yield


@pytest.mark.usefixtures("out_of_service_taint")
def test_spot_out_of_service_taint_follows_the_drain_of_a_terminating_instance(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given spotOutOfServiceTaint on, and a Spot worker whose instance is being reclaimed
    spot = support.spot_workers(cluster)[1]
    # When its warning is put on the bus
    (outcome,) = _handled(local_system, support.entry(local_system, spot))
    # Then its node was drained, then tainted out-of-service, and the outcome and the node's Event say so
    assert (outcome["result"], outcome["out_of_service"]) == ("drained", True), outcome
    assert _out_of_service(support.node(cluster, spot)) == [
        {"key": OUT_OF_SERVICE_TAINT_KEY, "value": "nodeshutdown", "effect": "NoExecute"}
    ]
    (drained,) = [e for e in support.node_events(cluster, spot) if e["reason"] == "DrainComplete"]
    assert "tainted out-of-service" in drained["message"]


def _hook(system: LocalSystem, instance: SeededInstance, name: str) -> None:
    system.aws.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=str(instance.asg_name),
        LifecycleHookName=name,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
        DefaultResult="CONTINUE",
    )


def test_a_lifecycle_action_of_our_hook_drains_then_continues_and_other_hooks_are_not_ours(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given an on-demand worker whose group has our termination hook, and a Spot worker whose group has NTH's
    ours, theirs = _on_demand_workers(cluster)[1], support.spot_workers(cluster)[0]
    _hook(local_system, ours, DEFAULT_LIFECYCLE_HOOK_NAME)
    _hook(local_system, theirs, "aws-node-termination-handler")
    account = local_system.aws.account_id
    actions = local_system.aws.lifecycle_actions
    # When Auto Scaling holds both instances for their hooks and emits the events
    entries = [
        actions.begin(
            account=account,
            region=local_system.region,
            asg_name=str(i.asg_name),
            hook_name=hook,
            instance_id=i.instance_id,
        )
        for i, hook in ((ours, DEFAULT_LIFECYCLE_HOOK_NAME), (theirs, "aws-node-termination-handler"))
    ]
    ours_id, theirs_id = support.put(local_system, *entries)
    local_system.aws.drain_event_sources(timeout=60)
    # Then the rule delivered ours: the node was drained, then the action continued
    (outcome,) = [line for line in support.handler_lines(local_system, ours_id) if line.get("result")]
    assert (outcome["kind"], outcome["result"], outcome["lifecycle_action"]) == (
        "lifecycle-hook",
        "drained",
        "completed",
    ), outcome
    assert support.node(cluster, ours)["spec"]["unschedulable"] is True
    ours_token, theirs_token = (json.loads(e["Detail"])["LifecycleActionToken"] for e in entries)
    assert actions.get(ours_token).result == "CONTINUE"
    assert support.emf_metric(local_system, "LifecycleActionsCompleted")
    # And NTH's event never reached the handler: its action is still pending, its node untouched
    assert support.handler_lines(local_system, theirs_id) == []
    assert actions.get(theirs_token).result is None
    assert not support.node(cluster, theirs)["spec"].get("unschedulable")


def test_a_health_scheduled_change_drains_every_instance_it_names(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given AWS Health scheduling the retirement of a Spot and an on-demand worker, in four days
    spot, on_demand = support.spot_workers(cluster)[2], _on_demand_workers(cluster)[2]
    start = datetime.now(UTC) + timedelta(days=4)
    entry = {
        "Source": "aws.health",
        "DetailType": "AWS Health Event",
        "Resources": [spot.instance_id, on_demand.instance_id],
        "Detail": json.dumps(
            {
                "service": "EC2",
                "eventTypeCategory": "scheduledChange",
                "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "affectedEntities": [{"entityValue": spot.instance_id}, {"entityValue": on_demand.instance_id}],
            }
        ),
    }
    # When the event is put on the bus
    (event_id,) = support.put(local_system, entry)
    local_system.aws.drain_event_sources(timeout=60)
    # Then each instance's node was drained now, with its own outcome
    outcomes = {
        line["instance_id"]: line for line in support.handler_lines(local_system, event_id) if line.get("result")
    }
    assert {i: (o["kind"], o["result"]) for i, o in outcomes.items()} == {
        spot.instance_id: ("scheduled-change", "drained"),
        on_demand.instance_id: ("scheduled-change", "drained"),
    }
    for worker in (spot, on_demand):
        assert support.node(cluster, worker)["spec"]["unschedulable"] is True
        (warned,) = [e for e in support.node_events(cluster, worker) if e["reason"] == "SpotInterruption"]
        assert "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED at " + start.strftime("%Y-%m-%dT%H:%M:%S") in warned["message"]
