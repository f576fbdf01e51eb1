"""Onboarding step 3: the cluster's EC2 key pair, its private key kept in Secrets Manager only."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client, resource
from kops_lambda.logic.key_pair import ensure_key_pair
from kops_lambda.logic.registry import record_resources
from kops_lambda.models.steps import StepRequest, parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    request = parse_model(StepRequest, event)
    facts = request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name, execution_id=request.execution_id)
    table = resource("dynamodb").Table(settings.registry_table)
    result = ensure_key_pair(
        client("ec2", facts.region),
        client("secretsmanager"),
        table,
        cluster_name=facts.cluster_name,
        kms_key_id=settings.secrets_kms_key,
        reader_arns=settings.secret_reader_arns,
    )
    record_resources(
        table,
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources={"key_pair": result.model_dump(mode="json")},
    )
    logger.info("key pair ensured", extra={"key_name": result.key_name, "key_pair_created": result.created})
    return result.model_dump(mode="json")
