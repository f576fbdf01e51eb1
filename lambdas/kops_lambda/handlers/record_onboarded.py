"""Last onboarding step: the registry marks the cluster ONBOARDED and keeps the options it was onboarded with."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import resource
from kops_lambda.logic.registry import mark_onboarded
from kops_lambda.models.steps import StepRequest, parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    request = parse_model(StepRequest, event)
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
