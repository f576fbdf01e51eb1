"""Compensation of onboarding executions that ended without their own: stopped (StopExecution) or timed
out. Step Functions runs no Catch then, so what the execution made would stay, and its cluster lease with
it. An EventBridge rule on Step Functions' execution status changes (ABORTED, TIMED_OUT) of the onboarding
state machine starts this state machine, which runs the onboarding's compensation chain for the stopped
execution (from the baseline it recorded) and so gives its lease back.

ReadStoppedExecution → FindStepInFlight → WaitForStepInFlight → RollbackAccessKey → … → RollbackRegistry →
Compensated. Step Functions reports ABORTED and TIMED_OUT at once, while the Lambda function of the step the
execution was in goes on running (Lambda does not stop an invocation whose caller has gone): undone at
once, that step could write afterwards (MapIdentity's `aws-auth` entry after the rollback removed it).
So FindStepInFlight reads the stopped execution's history (GetExecutionHistory, without execution data):
a `LambdaFunctionScheduled` without its end event (`LambdaFunctionSucceeded`, `...Failed`, `...TimedOut`,
`...StartFailed`, `...ScheduleFailed`) is a function still running; it can run until its
`LambdaFunctionStarted` time + its configured timeout (GetFunctionConfiguration: the deployed value) +
Lambda's 10 s Init limit + 5 s for clock skew. WaitForStepInFlight waits that long from now
(`SecondsPath`; 0 when nothing was in flight, so a compensation of a step that had returned does not wait).
Its function may read only the history of the onboarding state machine's executions and the configuration
of the functions that state machine invokes. If it still fails after its retries, nothing is undone
(CompensationFailed): rolling back while the step may still write is what this prevents.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from kops_lambda.constants import (
    SFN_EVENT_SOURCE,
    SFN_STATUS_CHANGE_DETAIL_TYPE,
    UNFINISHED_STATUSES,
)
from kops_lambda.workflow import FIND_STEP_IN_FLIGHT, ROLLBACK, ResultKey
from stacks.cleanup import CleanupFunctions
from stacks.constructs.workflow import logged_state_machine

STOPPED_EXECUTION_PATH = "$.stopped_execution"
IN_FLIGHT_PATH = f"$.{ResultKey.IN_FLIGHT}"


class CompensationWorkflow(Construct):
    """The rule and the state machine that compensate a stopped or timed-out onboarding execution."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        onboarding: sfn.StateMachine,
        onboarding_functions: Sequence[lambda_.IFunction],
        cleanup: CleanupFunctions,
    ) -> None:
        super().__init__(scope, construct_id)
        failed = sfn.Fail(
            self,
            "CompensationFailed",
            comment="A compensation still failed after its retries; rerun the onboarding, it converges",
            error_path="$.rollback_error.Error",
            cause_path="$.rollback_error.Cause",
        )
        following: sfn.IChainable = sfn.Succeed(self, "Compensated")
        for state in reversed(ROLLBACK):
            compensation = cleanup.task(self, state, execution_id=sfn.JsonPath.string_at(STOPPED_EXECUTION_PATH))
            compensation.add_catch(failed, errors=["States.ALL"], result_path="$.rollback_error")
            compensation.next(following)
            following = compensation
        # The event's detail holds the stopped execution's ARN and its input (as JSON text).
        start = sfn.Pass(
            self,
            "ReadStoppedExecution",
            parameters={
                "input.$": "States.StringToJson($.detail.input)",
                "stopped_execution.$": "$.detail.executionArn",
                "status.$": "$.detail.status",
            },
            comment="The stopped execution's input under $.input, as the rollback steps expect it",
        )
        # The stopped step's function may still run: nothing is undone before it can no longer write.
        cleanup.grant_in_flight_reading(onboarding, onboarding_functions)
        find_in_flight = cleanup.task(
            self, FIND_STEP_IN_FLIGHT, execution_id=sfn.JsonPath.string_at(STOPPED_EXECUTION_PATH)
        )
        find_in_flight.add_catch(failed, errors=["States.ALL"], result_path="$.rollback_error")
        wait = sfn.Wait(
            self,
            "WaitForStepInFlight",
            time=sfn.WaitTime.seconds_path(f"{IN_FLIGHT_PATH}.wait_seconds"),
            comment="Until the stopped step's function can no longer run (0 s when none was in flight)",
        )
        start.next(find_in_flight).next(wait).next(following)

        self.log_group, self.state_machine = logged_state_machine(self, start)
        self.rule = events.Rule(
            self,
            "UnfinishedOnboardings",
            description="Onboarding executions stopped or timed out: compensate them",
            event_pattern=events.EventPattern(
                source=[SFN_EVENT_SOURCE],
                detail_type=[SFN_STATUS_CHANGE_DETAIL_TYPE],
                detail={"status": list(UNFINISHED_STATUSES), "stateMachineArn": [onboarding.state_machine_arn]},
            ),
            targets=[targets.SfnStateMachine(self.state_machine)],
        )
