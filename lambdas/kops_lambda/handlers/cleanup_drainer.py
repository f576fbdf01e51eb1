"""Rollback (RollbackDrainerCredential) and offboarding (RemoveDrainerCredential): the Spot handler's
drainer ServiceAccount and its credential secret."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.handlers.cleanup_step import run_cleanup
from kops_lambda.logic.rollback import steps
from kops_lambda.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_cleanup(
        event,
        "drainer credential",
        lambda request, table: steps.drainer_credential(request, client=client, table=table),
    )
