"""Rollback (RollbackIdentityMapping) and offboarding (RemoveIdentityMapping): our entries in the
authenticator's ConfigMaps (the backup restored when the ConfigMap is still as we wrote it), our RBAC."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.rollback import steps
from kops_lambda.models.rollback import CleanupRequest
from kops_lambda.models.steps import parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, cluster_settings = load_settings(), load_cluster_settings()
    request = parse_model(CleanupRequest, event)
    identity = caller_identity()
    logger.append_keys(execution_id=request.execution_id, action=request.action)
    summary = steps.identity_mappings(
        request,
        client=client,
        table=steps.registry_table(settings.registry_table),
        partition=identity.partition,
        account=identity.account,
        spot_role_arn=cluster_settings.spot_handler_role_arn,
    )
    logger.info("identity mapping cleaned up", extra=summary.model_dump())
    metrics.add_metric(
        name=f"{request.action.split('-')[0].capitalize()}Removals", unit="Count", value=len(summary.removed)
    )
    return summary.model_dump(mode="json")
