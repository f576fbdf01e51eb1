"""Onboarding step 6: the user's access key, created and stored in one invocation; only its id leaves."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.logic.access_key import deactivate_other_keys, ensure_access_key
from kops_lambda.logic.registry import record_resources
from kops_lambda.models.credentials import IamEntities
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger, metrics
from kops_lambda.settings import Settings
from kops_lambda.workflow import ResultKey


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    onboard, facts = request.onboard_input(), request.cluster_facts()
    iam_entities = request.step_result(IamEntities, ResultKey.IAM)
    logger.append_keys(cluster=facts.cluster_name)
    table = resource("dynamodb").Table(settings.registry_table)
    result = ensure_access_key(
        client("iam"),
        client("secretsmanager"),
        table,
        user_name=iam_entities.user_name,
        cluster_name=facts.cluster_name,
        kms_key_id=settings.secrets_kms_key,
        reader_arns=settings.secret_reader_arns,
        rotate=onboard.rotate_access_key,
    )
    deactivated = deactivate_other_keys(client("iam"), user_name=result.user_name, keep=result.access_key_id)
    result = result.model_copy(update={"deactivated_key_ids": deactivated})
    record_resources(
        table,
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources={ResultKey.ACCESS_KEY: result.model_dump(mode="json")},
    )
    if result.created:
        metrics.add_metric(name="AccessKeysCreated", unit="Count", value=1)
    logger.info(
        "access key ensured",
        extra={"access_key_id": result.access_key_id, "access_key_created": result.created},
    )
    return result
