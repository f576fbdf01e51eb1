"""The step a stopped execution was in, from its history: GetExecutionHistory pages (without execution
data) of an onboarding stopped at different moments, in `events/execution-history/`."""

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kops_lambda.logic.rollback.in_flight import (
    CLOCK_SKEW_SECONDS,
    LAMBDA_INIT_LIMIT_SECONDS,
    in_flight_wait,
    running_function,
)

HISTORIES = Path(__file__).parent / "events" / "execution-history"
MAP_IDENTITY = (
    "arn:aws:lambda:us-east-1:123456789012:function:KopsOnboard-OnboardingMapIdentityFunction7BCB6-Xk2p9QeLr4Ts"
)
TIMEOUT = 60
MARGIN = LAMBDA_INIT_LIMIT_SECONDS + CLOCK_SKEW_SECONDS


def history(name: str) -> list[dict[str, Any]]:
    """The events as boto3 returns them: timestamps parsed."""
    events: list[dict[str, Any]] = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    for event in events:
        event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    return events


def stopped_at(events: list[dict[str, Any]]) -> datetime:
    (end,) = [e["timestamp"] for e in events if e["type"] == "ExecutionAborted"]
    return end  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["nothing-in-flight", "completed-before-abort"])
def test_nothing_is_awaited_when_no_function_was_running(name: str) -> None:
    # Given a history whose every scheduled function ended before the abort
    events = history(name)
    # When the compensation looks for the step in flight at the abort
    running = running_function(events)
    result = in_flight_wait(running, timeout_seconds=TIMEOUT, now=stopped_at(events))
    # Then there is none, and it waits 0 s
    assert running is None
    assert result.step is None and result.wait_seconds == 0


def test_a_function_started_10_s_before_the_abort_is_awaited_for_the_rest_of_its_timeout() -> None:
    # Given MapIdentity's function started 10 s before the abort, with no end event
    events = history("started-10s-before-abort")
    # When the compensation looks at the abort
    running = running_function(events)
    result = in_flight_wait(running, timeout_seconds=TIMEOUT, now=stopped_at(events))
    # Then it is MapIdentity's, timed from LambdaFunctionStarted, and the wait is the rest of its timeout
    # plus the margin (Init limit, clock skew)
    assert running is not None
    assert (running.state, running.function) == ("MapIdentity", MAP_IDENTITY)
    assert running.started_at == datetime.fromisoformat("2026-12-01T10:00:01.455Z")
    assert result.wait_seconds == TIMEOUT - 10 + MARGIN
    assert result.step is not None and result.step.timeout_seconds == TIMEOUT
    assert datetime.fromisoformat(result.step.runs_until) == running.started_at + timedelta(seconds=TIMEOUT + MARGIN)


def test_a_retried_function_is_timed_from_its_last_attempt() -> None:
    # Given MapIdentity failed once, was retried, and its second attempt ran at the abort
    events = history("retried")
    # When the compensation looks at the abort
    running = running_function(events)
    now = stopped_at(events)
    result = in_flight_wait(running, timeout_seconds=TIMEOUT, now=now)
    # Then the second attempt is in flight, from its own start (not the first attempt's)
    assert running is not None and running.state == "MapIdentity"
    assert running.started_at == datetime.fromisoformat("2026-12-01T10:00:23.150Z")
    # 60 + 15 s from 10:00:23.150, seen at 10:00:30.000: 68.15 s, rounded up
    assert result.wait_seconds == 69


def test_a_function_scheduled_but_not_yet_started_is_timed_from_its_scheduling() -> None:
    # Given a history that ends with MapIdentity scheduled (the stop came before Lambda started it)
    events = history("started-10s-before-abort")[:10]
    # When the compensation looks 1 s after the scheduling
    running = running_function(events)
    assert running is not None
    result = in_flight_wait(running, timeout_seconds=TIMEOUT, now=running.started_at + timedelta(seconds=1))
    # Then it may still be invoked and run: timed from LambdaFunctionScheduled
    assert running.started_at == datetime.fromisoformat("2026-12-01T10:00:01.410Z")
    assert result.wait_seconds == TIMEOUT + MARGIN - 1


def test_a_function_past_its_timeout_is_not_awaited() -> None:
    # Given a function in flight seen after its timeout and the margin have passed (a late compensation)
    events = history("started-10s-before-abort")
    running = running_function(events)
    assert running is not None
    late = running.started_at + timedelta(seconds=TIMEOUT + MARGIN + 1)
    # Then nothing is left to wait for, but the step is still reported
    result = in_flight_wait(running, timeout_seconds=TIMEOUT, now=late)
    assert result.wait_seconds == 0 and result.step is not None and result.step.state == "MapIdentity"
