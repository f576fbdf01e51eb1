"""Rollback (RollbackIdentityMapping) and offboarding (RemoveIdentityMapping): our entries in the
authenticator's ConfigMaps (the backup restored when the ConfigMap is still as we wrote it), our RBAC."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.handlers.cleanup_step import run_cleanup
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.rollback import steps
from kops_lambda.models.rollback import CleanupRequest, CleanupSummary
from kops_lambda.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def remove(request: CleanupRequest, table: Any) -> CleanupSummary:
        identity = caller_identity()
        return steps.identity_mappings(
            request,
            client=client,
            table=table,
            partition=identity.partition,
            account=identity.account,
            spot_role_arn=load_cluster_settings().spot_handler_role_arn,
        )

    return run_cleanup(event, "identity mapping", remove)
