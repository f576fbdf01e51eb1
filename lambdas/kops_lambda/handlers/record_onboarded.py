"""Last onboarding step: the registry marks the cluster ONBOARDED and keeps the options it was onboarded with."""

from typing import Any

from kops_lambda.adapters.aws import resource
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.logic.registry import mark_onboarded
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import metrics
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> dict[str, Any]:
    onboard = request.onboard_input()
    region = onboard.region or settings.region
    result = mark_onboarded(
        resource("dynamodb").Table(settings.registry_table),
        region=region,
        cluster_name=onboard.cluster_name,
        execution_id=request.execution_id,
        # What a rerun would be given again; rotate_access_key is a one-off request, not a setting.
        options=onboard.model_dump(mode="json", exclude={"plan_only", "rotate_access_key"}, exclude_none=True),
    )
    metrics.add_metric(name="ClustersOnboarded", unit="Count", value=1)
    return result
