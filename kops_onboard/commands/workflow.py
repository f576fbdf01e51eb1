"""What `onboard` and `offboard` share: validate the input, start the execution, follow it live, end cleanly."""

import json
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import BaseModel

from kops_lambda.errors import InvalidInput
from kops_lambda.models.steps import parse_model
from kops_onboard.commands.common import Exit, fail
from kops_onboard.commands.options import Output
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
    doing: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Validate (the same model as the workflow's), start, follow; returns the execution ARN and its output.

    Must run inside `aws_errors`; exits 2 on bad input and 1 when the execution does not succeed. `doing`:
    what the first line says the execution does (default: `<purpose>ing`).
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
        typer.echo(f"{doing or purpose + 'ing'} {payload['cluster_name']}: {execution_arn}")
    try:
        status = follow(sfn, execution_arn, lambda step: show_step(step, output), timeout=timeout)
    except TimeoutError as exc:
        fail(output, Exit.FAILED, str(exc), execution_arn=execution_arn)
    described = sfn.describe_execution(executionArn=execution_arn)
    if status != "SUCCEEDED":
        error = described.get("error")
        failure = read_cause(described.get("cause"))
        hint = hint_for(error, purpose)
        lines = [f"{status}: {error}: {failure.message}", *rollback_lines(failure.rollback), f"fix: {hint}"]
        fail(
            output,
            Exit.FAILED,
            "\n".join(lines),
            execution_arn=execution_arn,
            error=error,
            cause=failure.message,
            rollback=failure.rollback,
            hint=hint,
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


@dataclass(frozen=True)
class Failure:
    message: str
    """The error messages of the cause, without the Lambda error documents' stack traces."""
    rollback: dict[str, Any] | None
    """What the compensation did, per step (from OnboardingFailed's cause), if it ran."""


# OnboardingFailed's cause: "<the failed step's cause> (rollback: <JSON of $.rollback>)" (stacks/onboarding.py).
_ROLLBACK_SUFFIX = " (rollback: "


def read_cause(cause: str | None) -> Failure:
    if not cause:
        return Failure("", None)
    text, rollback = cause, None
    at = cause.rfind(_ROLLBACK_SUFFIX)
    if at != -1 and cause.endswith(")"):
        try:
            parsed = json.loads(cause[at + len(_ROLLBACK_SUFFIX) : -1])
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            text, rollback = cause[:at], parsed
    return Failure(_error_messages(text), rollback)


def _error_messages(text: str) -> str:
    """`text` with every embedded Lambda error document replaced by its errorMessage."""
    decoder, parts, position = json.JSONDecoder(), [], 0
    while (start := text.find("{", position)) != -1:
        try:
            document, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            parts.append(text[position : start + 1])
            position = start + 1
            continue
        is_error = isinstance(document, dict) and "errorMessage" in document
        parts += [text[position:start], str(document["errorMessage"]) if is_error else text[start:end]]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def rollback_lines(rollback: dict[str, Any] | None) -> list[str]:
    """One line per kind of outcome over every compensation step: what was removed, restored, kept."""
    if rollback is None:
        return []
    outcomes: dict[str, list[str]] = {"removed": [], "restored": [], "kept": []}
    for summary in rollback.values():
        if isinstance(summary, dict):
            for kind, names in outcomes.items():
                names.extend(str(name) for name in summary.get(kind) or [])
    lines = [f"rollback {kind}: {'; '.join(names)}" for kind, names in outcomes.items() if names]
    return lines or ["rollback: nothing had been made yet"]
