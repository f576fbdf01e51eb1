"""`kops-onboard onboard`: validate locally, start the execution, show each step live, end with outputs."""

import json
from typing import Any

import typer

from kops_lambda.errors import InvalidInput
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.steps import parse_model
from kops_onboard.commands.common import Exit, Output, aws_errors, emit, fail
from kops_onboard.deployment import Deployment
from kops_onboard.executions import start_execution
from kops_onboard.hints import hint_for
from kops_onboard.progress import StepProgress, follow

SYMBOLS = {"running": "…", "done": "✓", "failed": "✗"}


def run_onboard(
    *,
    cluster: str,
    region: str | None,
    kubeconfig_secret: str | None,
    agent_api_key_secret: str | None,
    state_store: str | None,
    rotate_access_key: bool,
    allow_s3_read: bool,
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> None:
    deployment = Deployment(region)
    with aws_errors(output):
        payload = {
            "cluster_name": cluster,
            "region": region or deployment.region_name,
            "kubeconfig_secret_arn": kubeconfig_secret or deployment.kubeconfig_secret(cluster),
            "agent_api_key_secret_arn": agent_api_key_secret or deployment.agent_api_key_secret(),
            "state_store": state_store,
            "rotate_access_key": rotate_access_key,
            "allow_s3_read": allow_s3_read,
        }
        try:
            # The same model validates here and in the first state.
            parse_model(OnboardInput, {k: v for k, v in payload.items() if v is not None})
        except InvalidInput as exc:
            fail(output, Exit.USAGE, str(exc))
        arn = state_machine or deployment.state_machine("onboard")
        sfn = deployment.client("stepfunctions")
        execution_arn = start_execution(
            sfn, arn, {k: v for k, v in payload.items() if v is not None}, name_prefix=cluster
        )
        if output is Output.TEXT:
            typer.echo(f"onboarding {cluster}: {execution_arn}")
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
    result = json.loads(described.get("output") or "{}")
    summary = summarize(result)
    emit(output, {"status": "SUCCEEDED", "execution_arn": execution_arn, **summary}, _summary_text(summary))


def show_step(step: StepProgress, output: Output) -> None:
    if output is Output.JSON or step.state_type not in {"Task", "Map", "Parallel"}:
        return
    duration = f"{step.seconds:6.2f} s" if step.seconds is not None else ""
    retries = f" ({step.attempts - 1} retries)" if step.attempts > 1 else ""
    error = f" {step.failed_error}" if step.failed_error else ""
    typer.echo(f"  {SYMBOLS[step.status]} {step.name:<20} {step.status:<8} {duration}{retries}{error}")


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Names and ARNs only: step results never hold secret values, and this picks fields explicitly."""
    iam, key_pair, access_key = result.get("iam", {}), result.get("key_pair", {}), result.get("access_key", {})
    return {
        "cluster": result.get("cluster", {}).get("cluster_name"),
        "kops_version": result.get("cluster", {}).get("kops_version"),
        "iam_user_arn": iam.get("user_arn"),
        "policies": iam.get("managed_policy_arns"),
        "spot_role_arn": iam.get("spot_role_arn"),
        "key_pair": key_pair.get("key_name"),
        "private_key_secret_arn": key_pair.get("private_key_secret_arn"),
        "access_key_id": access_key.get("access_key_id"),
        "access_key_secret_arn": access_key.get("secret_arn"),
        "identity_mapping": result.get("identity_mapping", {}).get("configmap"),
        "agent_namespace": result.get("agent", {}).get("namespace"),
    }


def _summary_text(summary: dict[str, Any]) -> str:
    width = max(len(k) for k in summary)
    lines = [
        f"  {key:<{width}}  {', '.join(value) if isinstance(value, list) else value}" for key, value in summary.items()
    ]
    return "onboarded:\n" + "\n".join(lines)


def short_cause(cause: str | None) -> str:
    """The error message from the Lambda error document, without its stack trace."""
    if not cause:
        return ""
    try:
        document = json.loads(cause)
    except json.JSONDecodeError:
        return cause[:500]
    return str(document.get("errorMessage", cause))[:500] if isinstance(document, dict) else cause[:500]
