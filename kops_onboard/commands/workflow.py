"""What `onboard` and `offboard` share: validate the input, start the execution, follow it live, end cleanly."""

import json
from typing import Any

import typer
from pydantic import BaseModel

from kops_lambda.errors import InvalidInput
from kops_lambda.models.steps import parse_model
from kops_onboard.commands.common import Exit, Output, fail
from kops_onboard.deployment import Deployment
from kops_onboard.executions import start_execution
from kops_onboard.hints import hint_for
from kops_onboard.progress import StepProgress, follow

SYMBOLS = {"running": "…", "done": "✓", "failed": "✗"}


def run_workflow(
    deployment: Deployment,
    *,
    purpose: str,
    model: type[BaseModel],
    payload: dict[str, Any],
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> tuple[str, dict[str, Any]]:
    """Validate (the same model as the workflow's), start, follow; returns the execution ARN and its output.

    Must run inside `aws_errors`; exits 2 on bad input and 1 when the execution does not succeed.
    """
    payload = {k: v for k, v in payload.items() if v is not None}
    try:
        parse_model(model, payload)
    except InvalidInput as exc:
        fail(output, Exit.USAGE, str(exc))
    sfn = deployment.client("stepfunctions")
    arn = state_machine or deployment.state_machine(purpose)
    execution_arn = start_execution(sfn, arn, payload, name_prefix=str(payload["cluster_name"]))
    if output is Output.TEXT:
        typer.echo(f"{purpose}ing {payload['cluster_name']}: {execution_arn}")
    try:
        status = follow(sfn, execution_arn, lambda step: show_step(step, output), timeout=timeout)
    except TimeoutError as exc:
        fail(output, Exit.FAILED, str(exc), execution_arn=execution_arn)
    described = sfn.describe_execution(executionArn=execution_arn)
    if status != "SUCCEEDED":
        error = described.get("error")
        fail(
            output,
            Exit.FAILED,
            f"{status}: {error}: {short_cause(described.get('cause'))}\nfix: {hint_for(error)}",
            execution_arn=execution_arn,
            error=error,
            cause=described.get("cause"),
            hint=hint_for(error),
        )
    result: dict[str, Any] = json.loads(described.get("output") or "{}")
    return execution_arn, result


def show_step(step: StepProgress, output: Output) -> None:
    if output is Output.JSON or step.state_type not in {"Task", "Map", "Parallel"}:
        return
    duration = f"{step.seconds:6.2f} s" if step.seconds is not None else ""
    retries = f" ({step.attempts - 1} retries)" if step.attempts > 1 else ""
    error = f" {step.failed_error}" if step.failed_error else ""
    typer.echo(f"  {SYMBOLS[step.status]} {step.name:<20} {step.status:<8} {duration}{retries}{error}")


def short_cause(cause: str | None) -> str:
    """The error message from the Lambda error document, without its stack trace."""
    if not cause:
        return ""
    try:
        document = json.loads(cause)
    except json.JSONDecodeError:
        return cause[:500]
    return str(document.get("errorMessage", cause))[:500] if isinstance(document, dict) else cause[:500]
