"""Onboarding step 1: the cluster's region is one the deployment's Spot rules cover (RegionNotCovered first,
before any AWS call), the cluster exists, runs a supported kOps version, the API server behind the kubeconfig
secret is its own, its identity mode is resolved (logic/cluster/identity_mode), and nothing in the account
would make a later step fail (logic/preflight); record it in the registry, with when the kubeconfig's
credential expires."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.handlers.validation_step import validated_request
from kops_lambda.logic.preflight import check_before_building
from kops_lambda.logic.registry import record_onboarding, registered_cluster
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    checked = validated_request(request, settings)
    onboard, region, identity = checked.onboard, checked.region, checked.identity
    secret_arn, validated = checked.kubeconfig_secret_arn, checked.validated
    facts, identity_mode, admin = validated.facts, validated.identity_mode, validated.admin
    table = resource("dynamodb").Table(settings.registry_table)
    check_before_building(
        client("iam"),
        client("ec2", region),
        cluster_name=onboard.cluster_name,
        registered=registered_cluster(table, region=region, cluster_name=onboard.cluster_name),
        partition=identity.partition,
        account=identity.account,
        adopt_existing=onboard.adopt_existing,
    )
    record_onboarding(
        table,
        region=region,
        cluster_name=onboard.cluster_name,
        execution_id=request.execution_id,
        kubeconfig_secret_arn=secret_arn,
        facts={"vpc_id": facts.vpc_id, "kops_version": facts.kops_version, "identity_mode": identity_mode},
        admin_kubeconfig=admin.model_dump(mode="json", exclude={"warning"}),
    )
    logger.info(
        "cluster validated",
        extra={
            "kops_version": facts.kops_version,
            "vpc_id": facts.vpc_id,
            "identity_mode": identity_mode,
            "admin_kubeconfig_expires_at": admin.model_dump(mode="json")["expires_at"],
        },
    )
    if admin.warning:
        logger.warning(admin.warning)
    return facts
