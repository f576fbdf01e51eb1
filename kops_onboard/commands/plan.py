"""`kops-onboard plan`: start an onboarding execution with `plan_only: true` and show what onboarding would
create, update or refuse, per resource; nothing is written."""

import json

from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.plan import OnboardingPlan, PlannedResource
from kops_onboard.commands.common import aws_errors, emit
from kops_onboard.commands.onboarding import OnboardOptions, onboard_payload
from kops_onboard.commands.options import Output
from kops_onboard.commands.workflow import run_workflow
from kops_onboard.deployment import Deployment

SYMBOLS = {"create": "+", "update": "~", "unchanged": "=", "refuse": "!"}


def run_plan(
    options: OnboardOptions,
    *,
    show_documents: bool,
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> None:
    deployment = Deployment(options.region)
    with aws_errors(output):
        payload = onboard_payload(deployment, options)
        execution_arn, result = run_workflow(
            deployment,
            purpose="onboard",
            model=OnboardInput,
            payload={**payload, "plan_only": True},
            state_machine=state_machine,
            timeout=timeout,
            output=output,
            doing="planning",
        )
    plan = OnboardingPlan.model_validate(result)
    document = {"status": "SUCCEEDED", "execution_arn": execution_arn, **plan.model_dump(mode="json")}
    emit(output, document, plan_text(plan, show_documents=show_documents))


def plan_text(plan: OnboardingPlan, *, show_documents: bool = False) -> str:
    counts = plan.counts()
    mode = plan.identity_mode + (f" via {plan.identity_backend}" if plan.identity_backend else "")
    lines = [
        f"plan for {plan.cluster_name} ({plan.region}, kOps {plan.kops_version}, identity {mode}): "
        f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged, "
        f"{counts['refuse']} refused"
    ]
    for resource in plan.resources:
        lines += _resource_lines(resource, show_documents=show_documents)
    if counts["refuse"]:
        lines.append("onboarding would stop at the first refused resource (!): fix those first")
    lines.append("not covered by this plan: " + "; ".join(plan.not_covered))
    return "\n".join(lines)


def _resource_lines(resource: PlannedResource, *, show_documents: bool) -> list[str]:
    lines = [f"  {SYMBOLS[resource.action]} {resource.kind:<18} {resource.name}"]
    if resource.reason:
        lines.append(f"      refused: {resource.reason}")
    lines += [f"      {change}" for change in resource.changes]
    if resource.document is not None:
        if show_documents:
            lines += [f"      {line}" for line in json.dumps(resource.document, indent=2).splitlines()]
        else:
            lines.append("      document: --show-documents (or --output json) prints it in full")
    if resource.diff:
        lines += [f"      {line}" for line in resource.diff.splitlines()]
    return lines
