"""`kops-onboard offboard`: remove what onboarding made for one cluster, following the execution live."""

import json

import typer

from kops_lambda.errors import InvalidInput
from kops_lambda.models.rollback import OffboardInput
from kops_lambda.models.steps import parse_model
from kops_onboard.commands.common import Exit, Output, aws_errors, emit, fail
from kops_onboard.commands.onboarding import short_cause, show_step
from kops_onboard.deployment import Deployment
from kops_onboard.executions import start_execution
from kops_onboard.hints import hint_for
from kops_onboard.progress import follow


def run_offboard(
    *,
    cluster: str,
    region: str | None,
    secret_recovery_days: int | None,
    skip_cluster_cleanup: bool,
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> None:
    deployment = Deployment(region)
    with aws_errors(output):
        payload = {
            "cluster_name": cluster,
            "region": region or deployment.region_name,
            "secret_recovery_days": secret_recovery_days,
            "skip_cluster_cleanup": skip_cluster_cleanup,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        try:
            parse_model(OffboardInput, payload)
        except InvalidInput as exc:
            fail(output, Exit.USAGE, str(exc))
        sfn = deployment.client("stepfunctions")
        arn = start_execution(sfn, state_machine or deployment.state_machine("offboard"), payload, name_prefix=cluster)
        if output is Output.TEXT:
            typer.echo(f"offboarding {cluster}: {arn}")
        try:
            status = follow(sfn, arn, lambda step: show_step(step, output), timeout=timeout)
        except TimeoutError as exc:
            fail(output, Exit.FAILED, str(exc), execution_arn=arn)
        described = sfn.describe_execution(executionArn=arn)
    if status != "SUCCEEDED":
        error = described.get("error")
        message = f"{status}: {error}: {short_cause(described.get('cause'))}\nfix: {hint_for(error)}"
        fail(output, Exit.FAILED, message, execution_arn=arn, error=error, hint=hint_for(error))
    result = json.loads(described.get("output") or "{}")
    emit(output, {"status": "SUCCEEDED", "execution_arn": arn, "result": result}, f"offboarded {cluster}")
