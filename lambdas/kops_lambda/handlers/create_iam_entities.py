"""Onboarding step 2: the cluster's IAM user and policies, CASTKopsPolicyV2 and CastLambdaRoleForSpot."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.logic.cluster.binding import registered_vpc
from kops_lambda.logic.iam_entities import ensure_iam_entities
from kops_lambda.logic.registry import record_resources
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings
from kops_lambda.workflow import ResultKey


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    onboard, facts = request.onboard_input(), request.cluster_facts()
    identity = caller_identity()
    logger.append_keys(cluster=facts.cluster_name)
    registry = resource("dynamodb").Table(settings.registry_table)
    entities = ensure_iam_entities(
        client("iam"),
        partition=identity.partition,
        account=identity.account,
        region=facts.region,
        cluster_name=facts.cluster_name,
        vpc_id=registered_vpc(registry, region=facts.region, cluster_name=facts.cluster_name),
        include_s3_read=onboard.allow_s3_read,
        seed_spot_role_policies=settings.seed_spot_role_policies,
        adopt_existing=onboard.adopt_existing,
    )
    record_resources(
        registry,
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources={ResultKey.IAM: entities.model_dump(mode="json")},
    )
    logger.info("IAM entities ensured", extra={"user": entities.user_name, "user_created": entities.user_created})
    return entities
