"""Compensation's first task (FindStepInFlight): the step the stopped execution was in, if its function may
still run, and how long to wait for it before anything is undone."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client
from kops_lambda.logic.rollback.in_flight import find_step_in_flight
from kops_lambda.logic.rollback.steps import expect
from kops_lambda.models.rollback import CleanupRequest
from kops_lambda.models.steps import parse_model
from kops_lambda.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_model(CleanupRequest, event)
    expect(request, "in-flight")
    logger.append_keys(execution_id=request.execution_id, action=request.action)
    result = find_step_in_flight(client("stepfunctions"), client("lambda"), request.execution_id, now=datetime.now(UTC))
    logger.info("step in flight", extra=result.model_dump(mode="json"))
    metrics.add_metric(name="StepsInFlightAwaited", unit="Count", value=1 if result.step else 0)
    return result.model_dump(mode="json")
