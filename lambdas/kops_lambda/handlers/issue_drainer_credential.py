"""Onboarding step 5: the Spot handler's own identity in the cluster and its credential (logic/cluster/drainer.py)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.logic.cluster.binding import kubeconfig_secret
from kops_lambda.logic.cluster.drainer import issue_drainer_credential
from kops_lambda.logic.cluster.identity_mode import registered_identity_mode
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.registry import record_changes
from kops_lambda.models.steps import StepRequest, parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, cluster_settings = load_settings(), load_cluster_settings()
    request = parse_model(StepRequest, event)
    onboard, facts = request.onboard_input(), request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name, execution_id=request.execution_id)
    identity = caller_identity()
    secret_arn = kubeconfig_secret(
        onboard.kubeconfig_secret_arn,
        cluster_name=facts.cluster_name,
        partition=identity.partition,
        account=identity.account,
        region=settings.region,
    )
    table = resource("dynamodb").Table(settings.registry_table)
    result = issue_drainer_credential(
        client("secretsmanager"),
        kubeconfig_secret_arn=secret_arn,
        cluster_name=facts.cluster_name,
        mode=registered_identity_mode(table, region=facts.region, cluster_name=facts.cluster_name),
        kops_version=facts.kops_version,
        spot_role_arn=cluster_settings.spot_handler_role_arn,
        kms_key_id=settings.secrets_kms_key,
        spot_force_delete=cluster_settings.spot_force_delete,
    )
    payload = result.model_dump(mode="json")
    record_changes(
        table,
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources={"drainer": payload},
    )
    logger.info(
        "drainer credential issued",
        extra={"mode": result.mode, "token_expires_at": payload["token_expires_at"], "secret_arn": result.secret_arn},
    )
    return payload
