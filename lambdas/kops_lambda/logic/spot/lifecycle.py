"""ASG termination lifecycle actions: the instance waits in Terminating:Wait while its node is handled; we send
heartbeats so the hook's timeout does not pass during a long drain, then complete the action with CONTINUE, also
when there was nothing to do (the node already gone, the instance not of an onboarded cluster)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.models.events import LifecycleActionEvent
from kops_lambda.observability import logger

# What Auto Scaling assumes when a hook does not say (and the longest it allows per heartbeat).
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 3600
# Heartbeats are sent at half the hook's timeout, never more often than this.
MIN_HEARTBEAT_INTERVAL_SECONDS = 1.0
COMPLETED = "completed"
ALREADY_COMPLETED = "already completed"


@dataclass(frozen=True)
class LifecycleAction:
    asg_name: str
    hook_name: str
    token: str
    instance_id: str

    @classmethod
    def of(cls, event: LifecycleActionEvent) -> "LifecycleAction":
        detail = event.detail
        return cls(
            asg_name=detail.asg_name, hook_name=detail.hook_name, token=detail.token, instance_id=detail.instance_id
        )

    def parameters(self) -> dict[str, str]:
        return {
            "AutoScalingGroupName": self.asg_name,
            "LifecycleHookName": self.hook_name,
            "LifecycleActionToken": self.token,
            "InstanceId": self.instance_id,
        }


def heartbeat_interval(autoscaling: Any, action: LifecycleAction) -> float:
    """Half the hook's heartbeat timeout: one heartbeat can be lost and the action still not time out."""
    with translated_aws_errors("describe lifecycle hook"):
        hooks = autoscaling.describe_lifecycle_hooks(
            AutoScalingGroupName=action.asg_name, LifecycleHookNames=[action.hook_name]
        )["LifecycleHooks"]
    timeout = hooks[0].get("HeartbeatTimeout", DEFAULT_HEARTBEAT_TIMEOUT_SECONDS) if hooks else 0
    if not timeout:  # the hook was deleted meanwhile: nothing is waiting on heartbeats
        return float(DEFAULT_HEARTBEAT_TIMEOUT_SECONDS)
    return max(timeout / 2, MIN_HEARTBEAT_INTERVAL_SECONDS)


class _Heartbeats:
    def __init__(self, autoscaling: Any, action: LifecycleAction, interval: float) -> None:
        self._autoscaling = autoscaling
        self._action = action
        self._interval = interval
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="lifecycle-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._autoscaling.record_lifecycle_action_heartbeat(**self._action.parameters())
            except Exception as exc:  # best effort: a lost heartbeat leaves the hook's own timeout
                logger.warning("lifecycle heartbeat not sent", extra={"error": type(exc).__name__})
                return
            self.sent += 1


@contextmanager
def heartbeats(autoscaling: Any, action: LifecycleAction, interval: float) -> Iterator[_Heartbeats]:
    """RecordLifecycleActionHeartbeat every `interval` seconds while the block runs; `.sent` counts them."""
    beating = _Heartbeats(autoscaling, action, interval)
    beating.start()
    try:
        yield beating
    finally:
        beating.stop()


def complete(autoscaling: Any, action: LifecycleAction) -> str:
    """CompleteLifecycleAction with CONTINUE: COMPLETED, or ALREADY_COMPLETED when Auto Scaling has no such
    action any more (its timeout passed, or a retry of ours completed it)."""
    try:
        with translated_aws_errors("complete lifecycle action"):
            autoscaling.complete_lifecycle_action(**action.parameters(), LifecycleActionResult="CONTINUE")
    except ClientError as exc:
        if error_code(exc) != "ValidationError":
            raise
        return ALREADY_COMPLETED
    return COMPLETED
