"""moto's ASL interpreter executing state machines whose tasks are our in-process Lambdas."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kops_local.aws import LocalAws, sfn_retry
from tests.local_aws import sample_handlers
from tests.local_aws.conftest import unique, wait_for

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
HANG_GUARD_SECONDS = 180  # an execution still RUNNING then has hung; how long one takes is not asserted


class _RecordedSleeps:
    """Stands in for the `time` module the scaled retry clock (`sfn_retry`) sleeps on: records each wait it is
    asked for, then waits it."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _task(function_arn: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        **extra,
    }


def _retry(interval: int, attempts: int, *, jitter: str = "NONE") -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": ["TransientError"],
            "IntervalSeconds": interval,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "JitterStrategy": jitter,
        }
    ]


@pytest.fixture
def run_machine(local_aws: LocalAws, role_arn: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Create a state machine, start it (with a unique name) and wait for it to leave RUNNING."""
    sfn = local_aws.client("stepfunctions")

    def run(definition: dict[str, Any], execution_input: Any) -> dict[str, Any]:
        machine_arn = sfn.create_state_machine(
            name=unique("machine"), definition=json.dumps(definition), roleArn=role_arn
        )["stateMachineArn"]
        started = time.monotonic()
        execution_arn = sfn.start_execution(
            stateMachineArn=machine_arn, name=uuid.uuid4().hex, input=json.dumps(execution_input)
        )["executionArn"]
        while time.monotonic() - started < HANG_GUARD_SECONDS:
            execution = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return {**execution, "elapsed": time.monotonic() - started}
            time.sleep(0.02)
        raise AssertionError(f"hung: execution still RUNNING after {HANG_GUARD_SECONDS} s")

    return run


@pytest.fixture
def real_retry_waits(local_aws: LocalAws) -> Iterator[None]:
    scale = local_aws.retry_interval_scale
    local_aws.retry_interval_scale = 1.0
    yield
    local_aws.retry_interval_scale = scale


def test_task_succeeds_with_handler_output(make_function: Callable[..., str], run_machine: Any) -> None:
    # Given a one-task machine that keeps the Lambda's Payload under $.validation
    echo = make_function("echo")
    definition = {
        "StartAt": "Validate",
        "States": {
            "Validate": _task(
                echo,
                ResultSelector={"payload.$": "$.Payload.event"},
                ResultPath="$.validation",
                End=True,
            )
        },
    }
    # When it runs
    execution = run_machine(definition, {"cluster": "c1"})
    # Then it succeeds with the handler's output merged into the input
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"cluster": "c1", "validation": {"payload": {"cluster": "c1"}}}


def test_named_error_is_retried_then_succeeds(make_function: Callable[..., str], run_machine: Any) -> None:
    # Given a task failing twice with TransientError and a Retry on that name (full jitter)
    flaky = make_function("flaky")
    key = unique("retry")
    definition = {
        "StartAt": "Flaky",
        "States": {"Flaky": _task(flaky, Retry=_retry(2, 3, jitter="FULL"), OutputPath="$.Payload", End=True)},
    }
    # When it runs
    execution = run_machine(definition, {"key": key, "failures": 2})
    # Then the third attempt's result is the output
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"key": key, "attempts": 3}
    assert len(sample_handlers.recorded(flaky.split(":")[-1])) == 3


def test_named_error_is_caught_and_fails_the_execution(make_function: Callable[..., str], run_machine: Any) -> None:
    # Given a task raising ClusterNotFound, a Retry on another name, and a Catch on ClusterNotFound → Fail
    missing = make_function("cluster_not_found")
    definition = {
        "StartAt": "Validate",
        "States": {
            "Validate": _task(
                missing,
                Retry=_retry(1, 3),
                Catch=[{"ErrorEquals": ["ClusterNotFound"], "ResultPath": "$.error", "Next": "NotFound"}],
                End=True,
            ),
            "NotFound": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    # When it runs
    execution = run_machine(definition, {"cluster": "gone"})
    # Then it fails with the exception's class name as error, the Lambda error document as cause, no retry
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ClusterNotFound"
    assert json.loads(execution["cause"])["errorMessage"] == "cluster gone does not exist"
    assert len(sample_handlers.recorded(missing.split(":")[-1])) == 1


def test_retry_interval_scale_shortens_retry_waits(
    local_aws: LocalAws, make_function: Callable[..., str], run_machine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given retries waiting 2 s, 4 s, 8 s (14 s in AWS) and this package's scale of 0.01
    assert local_aws.retry_interval_scale == 0.01
    flaky = make_function("flaky")
    definition = {"StartAt": "Flaky", "States": {"Flaky": _task(flaky, Retry=_retry(2, 3), End=True)}}
    sleeps = _RecordedSleeps()
    monkeypatch.setattr(sfn_retry, "time", sleeps)
    # When the task fails three times before succeeding
    execution = run_machine(definition, {"key": unique("scaled"), "failures": 3})
    # Then all four attempts ran, and the interpreter's three waits were each its interval x 0.01
    assert execution["status"] == "SUCCEEDED"
    assert len(sample_handlers.recorded(flaky.split(":")[-1])) == 4
    assert sleeps.seconds == pytest.approx([0.02, 0.04, 0.08])


@pytest.mark.usefixtures("real_retry_waits")
def test_retry_waits_real_intervals_at_scale_one(make_function: Callable[..., str], run_machine: Any) -> None:
    # Given the unscaled interpreter (the one real-interval run) and one retry after IntervalSeconds=1
    flaky = make_function("flaky")
    definition = {"StartAt": "Flaky", "States": {"Flaky": _task(flaky, Retry=_retry(1, 1), End=True)}}
    # When the task fails once
    execution = run_machine(definition, {"key": unique("real"), "failures": 1})
    # Then the execution took at least the full second before the retry
    assert execution["status"] == "SUCCEEDED"
    assert execution["elapsed"] >= 1.0


def test_asl_features_used_by_synthesized_definitions(make_function: Callable[..., str], run_machine: Any) -> None:
    # Given a machine using Pass+intrinsics, Choice, Map, Parallel, selectors/paths and Catch with ResultPath
    echo = make_function("echo")
    missing = make_function("cluster_not_found")
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {
                "Type": "Pass",
                "Parameters": {
                    "label.$": "States.Format('cluster {} in {}', $.cluster, $.region)",
                    "execution.$": "$$.Execution.Name",
                    "nodes.$": "$.nodes",
                },
                "ResultPath": "$.described",
                "Next": "HasNodes",
            },
            "HasNodes": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.described.nodes", "IsPresent": True},
                            {"Variable": "$.described.nodes[0]", "IsPresent": True},
                        ],
                        "Next": "PerNode",
                    }
                ],
                "Default": "Done",
            },
            "PerNode": {
                "Type": "Map",
                "ItemsPath": "$.described.nodes",
                "MaxConcurrency": 2,
                "ItemSelector": {"node.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Touch",
                    "States": {"Touch": _task(echo, OutputPath="$.Payload.event", End=True)},
                },
                "ResultPath": "$.touched",
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "One", "States": {"One": {"Type": "Pass", "Result": 1, "End": True}}},
                    {"StartAt": "Two", "States": {"Two": {"Type": "Pass", "Result": 2, "End": True}}},
                ],
                "ResultSelector": {"sum.$": "States.MathAdd($[0], $[1])"},
                "ResultPath": "$.parallel",
                "Next": "Lookup",
            },
            "Lookup": _task(
                missing,
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lookupError", "Next": "Summarize"}],
                End=True,
            ),
            "Summarize": {
                "Type": "Pass",
                "Parameters": {
                    "label.$": "$.described.label",
                    "touched.$": "$.touched",
                    "sum.$": "$.parallel.sum",
                    "error.$": "$.lookupError.Error",
                },
                "OutputPath": "$",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    # When it runs
    execution = run_machine(definition, {"cluster": "c1", "region": "eu-west-1", "nodes": ["a", "b"]})
    # Then every construct produced what AWS would
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "label": "cluster c1 in eu-west-1",
        "touched": [{"node": "a", "index": 0}, {"node": "b", "index": 1}],
        "sum": 3,
        "error": "ClusterNotFound",
    }


def test_an_execution_past_its_timeout_seconds_is_timed_out_as_aws_reports_it(
    local_aws: LocalAws, make_function: Callable[..., str], run_machine: Any
) -> None:
    # Given a state machine with TimeoutSeconds 1 whose first task takes 2 s
    sleepy = make_function("sleepy")
    definition = {
        "StartAt": "Slow",
        "TimeoutSeconds": 1,
        "States": {"Slow": _task(sleepy, Next="After"), "After": {"Type": "Pass", "End": True}},
    }
    # When it runs
    execution = run_machine(definition, {"seconds": 2})
    # Then it turns TIMED_OUT while the task still runs, with its stop date, as Describe and List say
    assert execution["status"] == "TIMED_OUT"
    assert (execution["stopDate"] - execution["startDate"]).total_seconds() >= 1
    sfn = local_aws.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=execution["stateMachineArn"])["executions"]
    assert [(item["status"], item["stopDate"]) for item in listed] == [("TIMED_OUT", execution["stopDate"])]

    # And once the late task has returned, the history ends with ExecutionTimedOut (the ended execution
    # does not go on to After, nor turn FAILED)
    def ended() -> list[str]:
        types = [event["type"] for event in sfn.get_execution_history(executionArn=execution["executionArn"])["events"]]
        return types if types[-1].startswith("Execution") and types[-1] != "ExecutionStarted" else []

    types = wait_for(ended)
    assert types[-1] == "ExecutionTimedOut", types
    assert "PassStateEntered" not in types, types
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "TIMED_OUT"
