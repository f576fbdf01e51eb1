"""ASG termination lifecycle actions in-process: moto (with the local endpoint's lifecycle actions) and a seeded
kOps cluster on the Kubernetes API server of `--kube`. The node is handled, heartbeats are sent meanwhile, and
the action is completed with CONTINUE whatever there was to do, unless the event was rejected."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kops_lambda.constants import DEFAULT_LIFECYCLE_HOOK_NAME
from kops_lambda.logic.spot.service import handle_interruption, parse_interruption_event
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_lambda.settings import SpotSettings
from kops_local.aws.lifecycle_actions import LifecycleActions, lifecycle_action_patches
from kops_local.aws.patching import PatchSet
from kops_local.seed import SeededInstance
from tests.spot.conftest import REGION, WARNING, Cluster, ec2_event

ACCOUNT = "123456789012"
DEFAULTS = SpotSettings()


@pytest.fixture
def actions(cluster: Cluster) -> Iterator[LifecycleActions]:
    actions = LifecycleActions()
    patches = PatchSet(lifecycle_action_patches(actions))
    patches.apply()
    yield actions
    patches.restore()


def _hooked(
    cluster: Cluster, instance: SeededInstance, *, hook: str = DEFAULT_LIFECYCLE_HOOK_NAME, timeout: int = 300
) -> None:
    cluster.clients("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=instance.asg_name,
        LifecycleHookName=hook,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=timeout,
        DefaultResult="ABANDON",
    )


def _terminating(
    actions: LifecycleActions,
    instance: SeededInstance,
    *,
    asg_name: str | None = None,
    hook: str = DEFAULT_LIFECYCLE_HOOK_NAME,
) -> tuple[Ec2InterruptionEvent, str]:
    """Auto Scaling holding the instance for the hook: the event it emits, and the action's token."""
    entry = actions.begin(
        account=ACCOUNT,
        region=REGION,
        asg_name=asg_name or str(instance.asg_name),
        hook_name=hook,
        instance_id=instance.instance_id,
    )
    detail = json.loads(entry["Detail"])
    event = parse_interruption_event(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ACCOUNT,
            "time": entry["Time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": entry["Resources"],
            "detail": detail,
        }
    )
    return event, detail["LifecycleActionToken"]


def _app_pods(cluster: Cluster, instance: SeededInstance) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.pods_on(instance) if p["metadata"]["namespace"] == "shop"]


def test_a_lifecycle_action_drains_the_node_then_continues(cluster: Cluster, actions: LifecycleActions) -> None:
    # Given a worker held in Terminating:Wait by our hook
    worker = cluster.spot_workers[0]
    _hooked(cluster, worker)
    event, token = _terminating(actions, worker)
    # When its lifecycle event is handled
    outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    # Then the node was drained, and only then the action completed with CONTINUE
    assert (outcome.kind, outcome.result, outcome.lifecycle_action) == ("lifecycle-hook", "drained", "completed")
    assert _app_pods(cluster, worker) == []
    assert actions.get(token).result == "CONTINUE"
    # And the instance stays in its group: the group itself terminates it (no early replacement)
    group = cluster.clients("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[worker.asg_name])
    assert worker.instance_id in {i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]}
    assert outcome.replacement == ""


def test_heartbeats_keep_a_long_drain_inside_the_hooks_timeout(cluster: Cluster, actions: LifecycleActions) -> None:
    # Given a hook with a 2 s heartbeat timeout (AWS's minimum is 30 s; the interval is half of it either way)
    # and an API server that takes 3 s to answer the node's first eviction
    worker = cluster.spot_workers[0]
    _hooked(cluster, worker, timeout=2)
    event, token = _terminating(actions, worker)
    slowed: list[bool] = []

    def slow_first_eviction(request: Any) -> None:
        if request.path.endswith("/eviction") and not slowed:
            slowed.append(True)
            time.sleep(3)

    cluster.kube.before_request(slow_first_eviction)
    # When its lifecycle event is handled
    outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    # Then heartbeats were sent during the drain (one per second), then the action completed
    assert outcome.result == "drained"
    action = actions.get(token)
    assert action.heartbeats >= 2, action
    assert outcome.lifecycle_heartbeats == action.heartbeats
    assert action.result == "CONTINUE"


def test_nothing_to_do_still_continues(cluster: Cluster, actions: LifecycleActions) -> None:
    # Given a worker drained by its Spot warning already (still in its group: no early replacement), and a
    # worker whose Node is gone
    drained, gone = cluster.spot_workers[:2]
    for worker in (drained, gone):
        _hooked(cluster, worker)
    warning = ec2_event(WARNING, instance_id=drained.instance_id)
    handle_interruption(warning, settings=SpotSettings(early_replacement=False), deps=cluster.deps())
    cluster.kube.store.delete("v1/nodes", None, cluster.node_name(gone))
    # When their groups' lifecycle events arrive
    results = {}
    for worker in (drained, gone):
        event, token = _terminating(actions, worker)
        outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
        results[worker.instance_id] = (outcome.result, outcome.lifecycle_action, actions.get(token).result)
    # Then neither was drained again, and both actions were continued
    assert results == {
        drained.instance_id: ("duplicate", "completed", "CONTINUE"),
        gone.instance_id: ("ignored", "completed", "CONTINUE"),
    }


def test_an_action_auto_scaling_no_longer_has_is_already_completed(cluster: Cluster, actions: LifecycleActions) -> None:
    worker = cluster.spot_workers[0]
    _hooked(cluster, worker)
    event, token = _terminating(actions, worker)
    # Given the action completed meanwhile (a retry of ours, or its timeout passed)
    cluster.clients("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=worker.asg_name,
        LifecycleHookName=DEFAULT_LIFECYCLE_HOOK_NAME,
        LifecycleActionToken=token,
        LifecycleActionResult="CONTINUE",
    )
    outcome = handle_interruption(event, settings=DEFAULTS, deps=cluster.deps())
    assert (outcome.result, outcome.lifecycle_action) == ("drained", "already completed")


def test_another_hook_or_another_group_is_rejected_and_left_pending(
    cluster: Cluster, actions: LifecycleActions
) -> None:
    # Given a worker whose group has NTH's hook, and a lifecycle event naming a group that is not the instance's
    nth, misnamed = cluster.spot_workers[:2]
    _hooked(cluster, nth, hook="aws-node-termination-handler")
    _hooked(cluster, nth)
    theirs, their_token = _terminating(actions, nth, hook="aws-node-termination-handler")
    other_group, other_token = _terminating(actions, misnamed, asg_name=str(nth.asg_name))
    # When both are handled
    first = handle_interruption(theirs, settings=DEFAULTS, deps=cluster.deps())
    second = handle_interruption(other_group, settings=DEFAULTS, deps=cluster.deps())
    # Then both are rejected with their reason, no node was touched, and both actions are still pending
    assert (first.result, first.reason) == (
        "rejected",
        f"lifecycle hook aws-node-termination-handler is not ours ({DEFAULT_LIFECYCLE_HOOK_NAME})",
    )
    assert second.result == "rejected"
    assert second.reason == f"lifecycle action of group {nth.asg_name} for an instance of {misnamed.asg_name}"
    assert not [r for r in cluster.kube.requests if r.method != "GET"]
    assert actions.get(their_token).result is None and actions.get(other_token).result is None


def test_a_dry_run_leaves_the_action_to_the_hooks_timeout(cluster: Cluster, actions: LifecycleActions) -> None:
    worker = cluster.spot_workers[0]
    _hooked(cluster, worker)
    event, token = _terminating(actions, worker)
    outcome = handle_interruption(event, settings=SpotSettings(dry_run=True), deps=cluster.deps())
    assert (outcome.result, outcome.lifecycle_action) == ("dry-run", "")
    assert actions.get(token).result is None
