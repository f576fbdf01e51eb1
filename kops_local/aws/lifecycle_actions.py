"""ASG termination lifecycle actions, which moto lacks: it stores lifecycle hooks but never holds an instance in
Terminating:Wait, emits no lifecycle event and has no CompleteLifecycleAction or RecordLifecycleActionHeartbeat.

`LifecycleActions.begin` plays Auto Scaling deciding to terminate an instance of a group with a termination
hook: it records a pending action (a fresh token) and returns the EventBridge entry Auto Scaling would emit. The
two calls then act on pending actions as Auto Scaling does: the group, hook, instance and token must name a
pending action, or the answer is a ValidationError ("No active Lifecycle Action found"); a completed action
records its result, a heartbeat is counted.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult

from kops_lambda.constants import LIFECYCLE_DETAIL_TYPE, LIFECYCLE_EVENT_SOURCE, LIFECYCLE_TERMINATING
from kops_local.aws.patching import AttributePatch


@dataclass
class LifecycleAction:
    account: str
    region: str
    asg_name: str
    hook_name: str
    instance_id: str
    token: str
    heartbeats: int = 0
    result: str | None = None  # CONTINUE or ABANDON once completed


class LifecycleActions:
    """The pending and completed lifecycle actions of the local endpoint, every account and region."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: dict[str, LifecycleAction] = {}

    def begin(self, *, account: str, region: str, asg_name: str, hook_name: str, instance_id: str) -> dict[str, Any]:
        """Hold `instance_id` of `asg_name` for its termination hook `hook_name`; returns the PutEvents entry of
        the event Auto Scaling emits then."""
        hooks = autoscaling_backends[account][region].describe_lifecycle_hooks(asg_name, [hook_name])
        if not hooks or hooks[0].lifecycle_transition != LIFECYCLE_TERMINATING:
            raise ValueError(f"group {asg_name} has no termination lifecycle hook {hook_name}")
        action = LifecycleAction(account, region, asg_name, hook_name, instance_id, str(uuid.uuid4()))
        with self._lock:
            self._actions[action.token] = action
        detail = {
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": asg_name,
            "LifecycleHookName": hook_name,
            "EC2InstanceId": instance_id,
            "LifecycleTransition": LIFECYCLE_TERMINATING,
            "Origin": "AutoScalingGroup",
            "Destination": "EC2",
        }
        return {
            "Time": datetime.now(UTC),
            "Source": LIFECYCLE_EVENT_SOURCE,
            "DetailType": LIFECYCLE_DETAIL_TYPE,
            "Resources": [f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{asg_name}"],
            "Detail": json.dumps(detail),
        }

    def get(self, token: str) -> LifecycleAction:
        with self._lock:
            return self._actions[token]

    def _pending(self, account: str, region: str, params: dict[str, Any]) -> LifecycleAction:
        token = params.get("LifecycleActionToken")
        action = self._actions.get(token or "")
        if (
            action is None
            or action.result is not None
            or (action.account, action.region) != (account, region)
            or action.asg_name != params.get("AutoScalingGroupName")
            or action.hook_name != params.get("LifecycleHookName")
            or (params.get("InstanceId") not in (None, action.instance_id))
        ):
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        return action

    def complete(self, account: str, region: str, params: dict[str, Any]) -> None:
        with self._lock:
            action = self._pending(account, region, params)
            result = params.get("LifecycleActionResult")
            if result not in ("CONTINUE", "ABANDON"):
                raise ValidationError(f"Invalid LifecycleActionResult {result}")
            action.result = result

    def heartbeat(self, account: str, region: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._pending(account, region, params).heartbeats += 1


_PARAMETERS = ("AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "InstanceId")


def _params(response: AutoScalingResponse, *extra: str) -> dict[str, Any]:
    return {name: response._get_param(name) for name in (*_PARAMETERS, *extra)}


def lifecycle_action_patches(actions: LifecycleActions) -> list[AttributePatch]:
    """The two Auto Scaling calls moto lacks, acting on `actions`."""

    def complete_lifecycle_action(self: AutoScalingResponse) -> EmptyResult:
        actions.complete(self.current_account, self.region, _params(self, "LifecycleActionResult"))
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> EmptyResult:
        actions.heartbeat(self.current_account, self.region, _params(self))
        return EmptyResult()

    return [
        AttributePatch(AutoScalingResponse, "complete_lifecycle_action", complete_lifecycle_action),
        AttributePatch(AutoScalingResponse, "record_lifecycle_action_heartbeat", record_lifecycle_action_heartbeat),
    ]
