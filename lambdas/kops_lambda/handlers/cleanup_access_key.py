"""Rollback (RollbackAccessKey) and offboarding (RemoveAccessKey): the access key and its secret."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.logic.rollback import steps
from kops_lambda.models.rollback import CleanupRequest
from kops_lambda.models.steps import parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    request = parse_model(CleanupRequest, event)
    logger.append_keys(execution_id=request.execution_id, action=request.action)
    summary = steps.access_key(request, client=client, table=steps.registry_table(settings.registry_table))
    logger.info("access key cleaned up", extra=summary.model_dump())
    metrics.add_metric(
        name=f"{request.action.split('-')[0].capitalize()}Removals", unit="Count", value=len(summary.removed)
    )
    return summary.model_dump(mode="json")
