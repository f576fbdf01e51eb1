"""What the workflows' constructs share: ARNs, the Lambda task with its retries, the grants more than one
workflow function needs, and a state machine with its own log group (onboarding, offboarding, compensation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kops_lambda.constants import (
    CLUSTER_SECRET_PREFIX,
    DRAINER_SECRET_KIND,
    WORKFLOW_TIMEOUT_MINUTES,
)
from kops_lambda.errors import RETRYABLE_ERROR_NAMES
from stacks.constructs.lambda_function import LOG_RETENTION

# Transient failures of the Lambda service itself (not of our code).
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def arn(
    scope: Construct,
    service: str,
    resource: str,
    name: str,
    fmt: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME,
    *,
    region: str | None = None,
) -> str:
    """`region`: default the stack's (IAM's: none)."""
    region = "" if service == "iam" else region
    return Stack.of(scope).format_arn(
        service=service, resource=resource, resource_name=name, arn_format=fmt, region=region
    )


def grant_cluster_access(scope: Construct, function: lambda_.IFunction, secrets_key: kms.IKey) -> None:
    """Read the clusters' kubeconfig secrets (ours, or customer-made under our prefix)."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadClusterKubeconfigs",
            actions=["secretsmanager:GetSecretValue"],
            resources=[
                arn(
                    scope,
                    "secretsmanager",
                    "secret",
                    f"{CLUSTER_SECRET_PREFIX}*/kubeconfig-*",
                    ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    secrets_key.grant(function, "kms:Decrypt")


def drainer_secrets(scope: Construct) -> str:
    """Every cluster's drainer credential secret: `kops-onboard/clusters/<cluster>/spot-drainer` plus the six
    characters Secrets Manager appends (`-` and `??????`, so no longer name under the prefix matches)."""
    name = f"{CLUSTER_SECRET_PREFIX}*/{DRAINER_SECRET_KIND}-??????"
    return arn(scope, "secretsmanager", "secret", name, ArnFormat.COLON_RESOURCE_NAME)


def grant_lease_takeover(scope: Construct, function: lambda_.IFunction) -> None:
    """The first state of a workflow takes over a cluster lease whose holder execution has ended."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadLeaseHolderStatus",
            actions=["states:DescribeExecution"],
            resources=[arn(scope, "states", "execution", "*", ArnFormat.COLON_RESOURCE_NAME)],
        )
    )


def lambda_task(
    scope: Construct,
    state_name: str,
    function: lambda_.IFunction,
    *,
    payload: dict[str, Any],
    result_path: str,
    transient_errors: Sequence[str] = (),
    execution_id: str = sfn.JsonPath.execution_id,
) -> tasks.LambdaInvoke:
    """A Lambda task of our workflows: payload {execution_id, state: $, ...}, the function's result at
    `result_path`, retries of our retryable errors, of `transient_errors` and of Lambda service errors,
    each exponential with full jitter. The caller adds the Catch. `execution_id`: the execution the step
    works for (this one, unless it compensates another)."""
    task = tasks.LambdaInvoke(
        scope,
        state_name,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(
            {"execution_id": execution_id, **payload, "state": sfn.JsonPath.entire_payload}
        ),
        payload_response_only=True,
        retry_on_service_exceptions=False,
        result_path=result_path,
    )
    task.add_retry(
        errors=list(RETRYABLE_ERROR_NAMES),
        interval=Duration.seconds(2),
        max_attempts=5,
        backoff_rate=2,
        max_delay=Duration.seconds(30),
        jitter_strategy=sfn.JitterType.FULL,
    )
    if transient_errors:
        task.add_retry(
            errors=list(transient_errors),
            interval=Duration.seconds(2),
            max_attempts=4,
            backoff_rate=2,
            max_delay=Duration.seconds(20),
            jitter_strategy=sfn.JitterType.FULL,
        )
    task.add_retry(
        errors=LAMBDA_SERVICE_ERRORS,
        interval=Duration.seconds(1),
        max_attempts=3,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def describe_key_pairs(sid: str = "DescribeKeyPairs") -> iam.PolicyStatement:
    """Read-only look-up of key pairs (whether ours exist, with their tags)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["ec2:DescribeKeyPairs"],
        resources=["*"],  # Describe* supports no resource-level permissions.
    )


def registry_scan(registry_arn: str, attributes: Sequence[str]) -> iam.PolicyStatement:
    """A Scan of the registry that returns `attributes` only (`dynamodb:Select` + `dynamodb:Attributes`)."""
    return iam.PolicyStatement(
        sid="ListOnboardedClusters",
        actions=["dynamodb:Scan"],
        resources=[registry_arn],
        conditions={
            "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
            "ForAllValues:StringEquals": {"dynamodb:Attributes": list(attributes)},
        },
    )


def registry_attribute_write(registry_arn: str, attribute: str, sid: str) -> iam.PolicyStatement:
    """An UpdateItem of one attribute of a cluster's item (and its key), returning nothing."""
    return iam.PolicyStatement(
        sid=sid,
        actions=["dynamodb:UpdateItem"],
        resources=[registry_arn],
        conditions={
            "ForAllValues:StringEquals": {"dynamodb:Attributes": ["cluster_key", attribute]},
            "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
        },
    )


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
