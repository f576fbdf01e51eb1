"""Rollback (RollbackRegistry: the cluster's item as it was, the baseline discarded), success
(DiscardBaseline) and offboarding (FindCluster: unknown → ClusterNotFound; RecordOffboarded: the OFFBOARDED
tombstone)."""

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
    result = steps.registry_record(
        request,
        table=steps.registry_table(settings.registry_table),
        stepfunctions=client("stepfunctions"),
        default_region=settings.region,
    )
    logger.info("registry updated", extra={"action": request.action})
    metrics.add_metric(name=_METRICS[request.action], unit="Count", value=1)
    return result


_METRICS = {
    "rollback": "OnboardingsRolledBack",
    "discard": "BaselinesDiscarded",
    "find": "OffboardingsStarted",
    "offboard": "ClustersOffboarded",
}
