"""Onboarding step 3: the cluster's EC2 key pair, its private key kept in Secrets Manager only."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.logic.key_pair import ensure_key_pair
from kops_lambda.logic.registry import record_resources
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings
from kops_lambda.workflow import ResultKey


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    facts = request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name)
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
        resources={ResultKey.KEY_PAIR: result.model_dump(mode="json")},
    )
    logger.info("key pair ensured", extra={"key_name": result.key_name, "key_pair_created": result.created})
    return result
