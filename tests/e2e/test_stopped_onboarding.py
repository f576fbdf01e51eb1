"""Stopped onboardings are compensated, end to end: StopExecution while the execution is at any of its
steps; Step Functions' status change event (ABORTED) reaches the rule, which starts the compensation state
machine; it undoes what the stopped execution made, from its baseline, and gives the cluster lease back.
The account and the cluster are then as they were, and a rerun onboards.

Locally the stopped step's Lambda finishes before the execution turns ABORTED (see `sfn_events`), so the
step's work is always done, then undone, and the compensation finds no step in flight (it waits 0 s).

An onboarding that outlives its state machine's TimeoutSeconds turns TIMED_OUT while its step still runs, as
on AWS, and is compensated the same way (the timeout is shortened for the test on the deployed state machine,
not in the template). That step then writes after the timeout (MapIdentity maps the user into aws-auth): the
compensation finds it in flight in the execution's history and waits until its function can no longer run
before it undoes anything; undone at once, the mapping would be left behind.
"""

import json
import time

import pytest

from kops_lambda.workflow import ONBOARDING_STATES
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, start_execution, wait_for_execution
from tests.rollback.account_state import assert_same, system_state

STEPS = list(ONBOARDING_STATES)


def compensation_started(system: LocalSystem, stopped_arn: str) -> str:
    """The compensation execution started for `stopped_arn` (waits until there is one)."""
    sfn = system.aws.client("stepfunctions")
    machine = system.output("CompensationStateMachineArn")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            detail = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["detail"]
            if detail["executionArn"] == stopped_arn:
                return str(execution["executionArn"])
        time.sleep(0.05)
    raise AssertionError(f"no compensation started for {stopped_arn}")


def compensation_of(system: LocalSystem, stopped_arn: str, status: str = "ABORTED") -> ExecutionResult:
    """Waits for `stopped_arn` to end with `status`, then for the compensation started for it to end."""
    sfn = system.aws.client("stepfunctions")
    result = wait_for_execution(sfn, stopped_arn, timeout=60)
    assert result.status == status, (result.status, result.error, result.cause)
    # The event is sent as the execution ends, and its delivery starts the compensation.
    return wait_for_execution(sfn, compensation_started(system, stopped_arn), timeout=120)


def last_history_event(system: LocalSystem, execution_arn: str) -> str:
    """The type of the execution's last history event, once its last task has returned (the history's end
    is written then, also for an execution that ended before)."""
    sfn = system.aws.client("stepfunctions")
    ends = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")
    deadline = time.monotonic() + 60
    while True:
        events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        last = str(events[-1]["type"]) if events else ""
        if last in ends or time.monotonic() > deadline:
            return last
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("stopped.k8s.local:kops=1.21,nodes=1"))


@pytest.mark.parametrize("step", STEPS)
def test_an_onboarding_stopped_at_a_step_is_compensated(
    local_system: LocalSystem, cluster: LocalCluster, step: str
) -> None:
    # Given the account and the cluster as they are
    before = system_state(local_system)
    sfn = local_system.aws.client("stepfunctions")
    # When an onboarding is stopped while it is at `step`
    with local_system.aws.hold_lambda(f"Onboarding{step}Function") as hold:
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="stop"
        )
        assert hold.reached.wait(timeout=60), f"the onboarding never reached {step}"
        sfn.stop_execution(executionArn=execution)
    # Then the compensation ran for it, and everything is as it was (the lease given back)
    compensation = compensation_of(local_system, execution)
    assert compensation.status == "SUCCEEDED", (compensation.error, compensation.cause)
    assert_same(before, system_state(local_system))
    # (without waiting: locally the stopped step has returned before ABORTED is reported)
    assert (compensation.output or {}).get("in_flight") == {"step": None, "wait_seconds": 0}
    # And a rerun onboards (the stopped execution holds no lease), then offboards, for the next case
    for kind, payload in (
        ("onboard", cluster.onboard_input()),
        ("offboard", cluster.offboard_input(secret_recovery_days=0)),
    ):
        rerun = wait_for_execution(
            sfn, start_execution(sfn, local_system.state_machines[kind], payload, name_prefix=kind)
        )
        assert rerun.status == "SUCCEEDED", (kind, rerun.error, rerun.cause)


# Long enough to reach MapIdentity on a busy machine (costs nothing: the compensation waits for MapIdentity's
# function, 60 s + margins from its start, anyway); the production default (30 minutes) is untouched.
TIMEOUT_SECONDS = 40


def ended_or_waiting(system: LocalSystem, execution_arn: str) -> None:
    """Waits until the execution has ended or entered a Wait state."""
    sfn = system.aws.client("stepfunctions")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
            return
        events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        if any(event["type"] == "WaitStateEntered" for event in events):
            return
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} neither ended nor waited")


def mapped_users(cluster: LocalCluster) -> str:
    configmap = cluster.api_server.store.get("v1/configmaps", "kube-system", "aws-auth") or {}
    return str((configmap.get("data") or {}).get("mapUsers") or "")


def test_an_onboarding_that_times_out_is_compensated_after_its_step_has_written(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given the account and the cluster as they are, and the onboarding's TimeoutSeconds made short
    before = system_state(local_system)
    assert "cast-kops-" not in mapped_users(cluster)
    sfn = local_system.aws.client("stepfunctions")
    with (
        local_system.workflow_timeout("onboard", TIMEOUT_SECONDS),
        local_system.aws.hold_lambda("OnboardingMapIdentityFunction") as hold,
    ):
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="late"
        )
        # When its MapIdentity step stalls past the timeout
        assert hold.reached.wait(timeout=TIMEOUT_SECONDS), "the onboarding timed out before MapIdentity"
        timed_out = wait_for_execution(sfn, execution, timeout=TIMEOUT_SECONDS + 30)
        # and goes on only once the compensation has started and has done what it does at once
        compensation = compensation_started(local_system, execution)
        ended_or_waiting(local_system, compensation)
    # Then the execution turned TIMED_OUT once its TimeoutSeconds had passed, while the step still ran
    assert timed_out.status == "TIMED_OUT", (timed_out.status, timed_out.error, timed_out.cause)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["stopDate"] - described["startDate"]).total_seconds() >= TIMEOUT_SECONDS
    # And the released step wrote after the timeout, as a Lambda function still running on AWS does
    deadline = time.monotonic() + 60
    while "cast-kops-" not in mapped_users(cluster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "cast-kops-" in mapped_users(cluster), "the released MapIdentity never mapped the user"
    assert last_history_event(local_system, execution) == "ExecutionTimedOut"
    # And the compensation waited for that step's function to be over, then undid everything from the
    # baseline and gave the lease back: the account and the cluster are as they were
    result = wait_for_execution(sfn, compensation, timeout=180)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    output = result.output or {}
    assert output.get("status") == "TIMED_OUT"
    assert_same(before, system_state(local_system))
    in_flight = output["in_flight"]
    assert in_flight["step"]["state"] == "MapIdentity" and in_flight["step"]["timeout_seconds"] == 60
    assert in_flight["wait_seconds"] > 0
    # And a rerun onboards (the timed-out execution holds no lease), then offboards
    for kind, payload in (
        ("onboard", cluster.onboard_input()),
        ("offboard", cluster.offboard_input(secret_recovery_days=0)),
    ):
        rerun = wait_for_execution(
            sfn, start_execution(sfn, local_system.state_machines[kind], payload, name_prefix=kind)
        )
        assert rerun.status == "SUCCEEDED", (kind, rerun.error, rerun.cause)
