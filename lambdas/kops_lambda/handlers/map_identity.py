"""Onboarding step 4: map the cluster's IAM user (and our Spot handler's role) into its authenticator, or, in
identity_mode service-account (as ValidateCluster recorded it), give the vendor a ServiceAccount and store its
kubeconfig beside the access key."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.handlers.onboarding_step import onboarding_step, step_kubeconfig_secret
from kops_lambda.logic.cluster.access import cluster_api
from kops_lambda.logic.cluster.binding import cluster_user_arn
from kops_lambda.logic.cluster.identity_mapping import ensure_identity_mapping
from kops_lambda.logic.cluster.identity_mode import registered_identity_mode
from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.cluster.vendor_identity import ensure_vendor_identity
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.registry import record_changes
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    cluster_settings = load_cluster_settings()
    onboard, facts = request.onboard_input(), request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name)
    identity = caller_identity()
    secret_arn = step_kubeconfig_secret(onboard, settings, cluster_name=facts.cluster_name)
    table = resource("dynamodb").Table(settings.registry_table)
    if registered_identity_mode(table, region=facts.region, cluster_name=facts.cluster_name) == "service-account":
        vendor = ensure_vendor_identity(
            client("secretsmanager"),
            secret_arn,
            cluster_name=facts.cluster_name,
            kms_key_id=settings.secrets_kms_key,
            reader_arns=settings.secret_reader_arns,
            spot_force_delete=cluster_settings.spot_force_delete,
        )
        record_changes(
            table,
            region=facts.region,
            cluster_name=facts.cluster_name,
            execution_id=request.execution_id,
            resources={"vendor_identity": vendor.model_dump(mode="json")},
        )
        logger.info(
            "vendor service account ensured",
            extra={
                "service_account": vendor.service_account,
                "objects": {o.kind: o.status for o in vendor.objects},
                "kubeconfig_secret_status": vendor.kubeconfig_secret_status,
            },
        )
        return vendor
    with cluster_api(client("secretsmanager"), secret_arn) as api:
        outcome = ensure_identity_mapping(
            api,
            cluster_name=facts.cluster_name,
            user_arn=cluster_user_arn(
                partition=identity.partition, account=identity.account, cluster_name=facts.cluster_name
            ),
            user_name=user_name(facts.cluster_name),
            spot_role_arn=cluster_settings.spot_handler_role_arn,
            spot_force_delete=cluster_settings.spot_force_delete,
            kops_spec=read_kops_spec(client("s3", facts.region), onboard.state_store, facts.cluster_name),
        )
    record_changes(
        table,
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources=outcome.registry_resources(),
    )
    result = outcome.result
    logger.info(
        "identity mapping ensured",
        extra={
            "backend": result.backend,
            "configmap_status": result.configmap_status,
            "mappings": {m.kind: m.status for m in result.mappings},
            "daemonset_restarted": result.daemonset_restarted,
        },
    )
    return result
