"""Follow an execution through its history: each state, its outcome and duration, as they happen."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kops_onboard.executions import TERMINAL_STATUSES


@dataclass
class StepProgress:
    name: str
    state_type: str
    entered: datetime
    exited: datetime | None = None
    attempts: int = 0
    failed_error: str | None = None

    @property
    def status(self) -> str:
        if self.failed_error:  # set by a failed attempt, cleared by a later successful one
            return "failed"
        return "done" if self.exited else "running"

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None


@dataclass
class ExecutionProgress:
    steps: list[StepProgress] = field(default_factory=list)
    seen_events: int = 0

    def apply(self, event: dict[str, Any]) -> StepProgress | None:
        """Fold one history event in; returns the step it changed."""
        kind: str = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            step = StepProgress(details["name"], kind.removesuffix("StateEntered"), event["timestamp"])
            self.steps.append(step)
            return step
        if not self.steps:
            return None
        current = self.steps[-1]
        if kind.endswith("StateExited"):
            current.exited = event["timestamp"]
            return current
        if kind == "LambdaFunctionScheduled":
            current.attempts += 1
        elif kind in {"LambdaFunctionSucceeded", "TaskSucceeded"}:
            current.failed_error = None
        elif kind in {"LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut"}:
            # Shown once, when the step exits: a retry may still succeed, and one failure can come as
            # several events (TaskFailed and LambdaFunctionFailed).
            failure: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            current.failed_error = failure.get("error", kind)
        return None


def follow(
    sfn: Any,
    execution_arn: str,
    on_change: Callable[[StepProgress], None],
    *,
    timeout: float = 900.0,
    poll: float = 0.2,
) -> str:
    """Poll the history until the execution ends; call on_change per changed step. Returns the status."""
    progress = ExecutionProgress()
    deadline = time.monotonic() + timeout
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        for event in _events(sfn, execution_arn, skip=progress.seen_events):
            progress.seen_events += 1
            changed = progress.apply(event)
            if changed is not None:
                on_change(changed)
        if status in TERMINAL_STATUSES:
            return str(status)
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution still {status} after {timeout:.0f} s")
        time.sleep(poll)


def _events(sfn: Any, execution_arn: str, *, skip: int) -> Iterator[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    index = 0
    for page in pages:
        for event in page["events"]:
            if index >= skip:
                yield event
            index += 1
