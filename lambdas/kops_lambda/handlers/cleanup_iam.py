"""Rollback (RollbackIamEntities) and offboarding (RemoveIamUser, RemoveSharedIamEntities): the cluster's
IAM user with its policies, and CASTKopsPolicyV2 / CastLambdaRoleForSpot when no other cluster uses them."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.handlers.cleanup_step import run_cleanup
from kops_lambda.logic.rollback import steps
from kops_lambda.models.rollback import CleanupRequest, CleanupSummary
from kops_lambda.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def remove(request: CleanupRequest, table: Any) -> CleanupSummary:
        identity = caller_identity()
        return steps.iam_entities(
            request, client=client, table=table, partition=identity.partition, account=identity.account
        )

    return run_cleanup(event, "IAM entities", remove)
