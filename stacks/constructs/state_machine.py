"""One workflow's state machine with its log group, the same for onboarding, offboarding and compensation."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from kops_lambda.constants import WORKFLOW_TIMEOUT_MINUTES
from stacks.constructs.lambda_function import LOG_RETENTION


def logged_state_machine(scope: Construct, start: sfn.IChainable) -> tuple[logs.LogGroup, sfn.StateMachine]:
    """A STANDARD, traced state machine under `scope` ("StateMachine") logging to its own group ("Logs")."""
    log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(start),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=Duration.minutes(WORKFLOW_TIMEOUT_MINUTES),
        tracing_enabled=True,
        # Every event, but without execution data: inputs and outputs never reach the logs.
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
    )
    return log_group, state_machine
