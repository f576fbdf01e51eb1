"""Onboarding step 5: the Spot handler's own identity in the cluster and its credential (logic/cluster/drainer.py)."""

from typing import Any

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step, step_kubeconfig_secret
from kops_lambda.logic.cluster.drainer import issue_drainer_credential
from kops_lambda.logic.cluster.identity_mode import registered_identity_mode
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.registry import record_changes
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings
from kops_lambda.workflow import ResultKey


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> dict[str, Any]:
    cluster_settings = load_cluster_settings()
    onboard, facts = request.onboard_input(), request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name)
    secret_arn = step_kubeconfig_secret(onboard, settings, cluster_name=facts.cluster_name)
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
        resources={ResultKey.DRAINER: payload},
    )
    logger.info(
        "drainer credential issued",
        extra={"mode": result.mode, "token_expires_at": payload["token_expires_at"], "secret_arn": result.secret_arn},
    )
    return payload
