"""First onboarding step: take the cluster's lease (one workflow per cluster at a time; ClusterBusy
otherwise), then snapshot, before anything is created, what the onboarding may create or change (the
rollback baseline, kept in the registry). Fails fast when the cluster's API cannot be reached."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.handlers.onboarding_step import onboarding_step, step_kubeconfig_secret
from kops_lambda.logic.cluster.access import cluster_api
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.lease import acquire_cluster_lease
from kops_lambda.logic.rollback.baseline import record_baseline
from kops_lambda.logic.rollback.steps import registry_table
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger, metrics
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    onboard = request.onboard_input()
    region = onboard.region or settings.region
    identity = caller_identity()
    logger.append_keys(cluster=onboard.cluster_name, region=region)
    secret_arn = step_kubeconfig_secret(onboard, settings, cluster_name=onboard.cluster_name)
    table = registry_table(settings.registry_table)
    acquire_cluster_lease(
        table, client("stepfunctions"), region=region, cluster_name=onboard.cluster_name, owner=request.execution_id
    )
    with cluster_api(client("secretsmanager"), secret_arn) as api:
        result = record_baseline(
            table,
            iam=client("iam"),
            ec2=client("ec2", region),
            secretsmanager=client("secretsmanager"),
            rest=KubeRest(api),
            execution_id=request.execution_id,
            region=region,
            cluster_name=onboard.cluster_name,
            kubeconfig_secret_arn=secret_arn,
            partition=identity.partition,
            account=identity.account,
        )
    logger.info("rollback baseline recorded", extra={"existing": result.existing})
    metrics.add_metric(name="BaselinesRecorded", unit="Count", value=1)
    return result
