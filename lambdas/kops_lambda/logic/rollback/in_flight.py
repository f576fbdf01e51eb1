"""The step a stopped or timed-out execution was in, and how long its Lambda function may still run.

Step Functions reports ABORTED and TIMED_OUT at once, while the function of the task the execution was
in keeps running (Lambda does not stop an invocation whose caller has gone) and may still write. Our
tasks name their function as `Resource` (LambdaInvoke with payloadResponseOnly), so their history events
are `LambdaFunctionScheduled` → `LambdaFunctionStarted` → one of `LambdaFunctionSucceeded`, `...Failed`,
`...TimedOut`, `...StartFailed`, `...ScheduleFailed`; a retry schedules again after the failure. A
scheduled function without its end event is in flight: it may run until its start + its configured
timeout (+ Lambda's Init phase, which a cold start spends before the timeout counts, + clock skew between
Step Functions' timestamps and ours). Our workflows run one task at a time (no Parallel or Map state),
so at most one is in flight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.models.rollback import InFlightResult, InFlightStep

SCHEDULED = "LambdaFunctionScheduled"
STARTED = "LambdaFunctionStarted"
ENDED = frozenset(
    {
        "LambdaFunctionSucceeded",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)
STATE_ENTERED = "TaskStateEntered"
# Lambda spends up to 10 s in a cold start's Init phase before the invocation's timeout starts counting.
LAMBDA_INIT_LIMIT_SECONDS = 10
# Step Functions' event timestamps and this function's clock are different machines' clocks.
CLOCK_SKEW_SECONDS = 5


@dataclass(frozen=True)
class RunningFunction:
    """A Lambda task of the execution's history without its end event."""

    state: str | None
    function: str
    started_at: datetime  # LambdaFunctionStarted, or LambdaFunctionScheduled if it has not started yet


def running_function(events: Iterable[Mapping[str, Any]]) -> RunningFunction | None:
    """The function still running at the end of `events` (GetExecutionHistory's, oldest first), if any."""
    state: str | None = None
    running: RunningFunction | None = None
    for event in events:
        kind = event["type"]
        if kind == STATE_ENTERED:
            state = event["stateEnteredEventDetails"]["name"]
        elif kind == SCHEDULED:
            function = event["lambdaFunctionScheduledEventDetails"]["resource"]
            running = RunningFunction(state=state, function=function, started_at=event["timestamp"])
        elif kind == STARTED and running is not None:
            running = RunningFunction(state=running.state, function=running.function, started_at=event["timestamp"])
        elif kind in ENDED:
            running = None
    return running


def in_flight_wait(running: RunningFunction | None, *, timeout_seconds: int, now: datetime) -> InFlightResult:
    """Seconds to wait from `now` until `running` (with `timeout_seconds` configured) can no longer run."""
    if running is None:
        return InFlightResult(step=None, wait_seconds=0)
    margin = LAMBDA_INIT_LIMIT_SECONDS + CLOCK_SKEW_SECONDS
    runs_until = running.started_at + timedelta(seconds=timeout_seconds + margin)
    step = InFlightStep(
        state=running.state,
        function=running.function,
        started_at=running.started_at.isoformat(),
        timeout_seconds=timeout_seconds,
        runs_until=runs_until.isoformat(),
    )
    return InFlightResult(step=step, wait_seconds=max(0, math.ceil((runs_until - now).total_seconds())))


def find_step_in_flight(stepfunctions: Any, lambda_client: Any, execution_arn: str, *, now: datetime) -> InFlightResult:
    """Reads the stopped execution's history (without its data) and the running function's timeout."""
    with translated_aws_errors("GetExecutionHistory"):
        pages = stepfunctions.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn, includeExecutionData=False
        )
        running = running_function(event for page in pages for event in page["events"])
    if running is None:
        return in_flight_wait(None, timeout_seconds=0, now=now)
    with translated_aws_errors("GetFunctionConfiguration"):
        timeout = int(lambda_client.get_function_configuration(FunctionName=running.function)["Timeout"])
    return in_flight_wait(running, timeout_seconds=timeout, now=now)
