"""Onboarding step 5: the agent (namespace, RBAC, Secret, quota, autoscaler config, Deployment) and
the kube-router toleration fix on clusters that need it."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step, step_kubeconfig_secret
from kops_lambda.logic.cluster.access import cluster_api
from kops_lambda.logic.cluster.agent import install_agent
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.registry import record_changes
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    cluster_settings = load_cluster_settings()
    onboard, facts = request.onboard_input(), request.cluster_facts()
    logger.append_keys(cluster=facts.cluster_name)
    secret_arn = step_kubeconfig_secret(onboard, settings, cluster_name=facts.cluster_name)
    with cluster_api(client("secretsmanager"), secret_arn) as api:
        outcome = install_agent(
            api, client("secretsmanager"), onboard=onboard, facts=facts, api_url=cluster_settings.agent_api_url
        )
    record_changes(
        resource("dynamodb").Table(settings.registry_table),
        region=facts.region,
        cluster_name=facts.cluster_name,
        execution_id=request.execution_id,
        resources=outcome.registry_resources(),
    )
    result = outcome.result
    logger.info(
        "agent ensured",
        extra={
            "objects": {f"{o.kind}/{o.name}": o.status for o in result.objects},
            "kube_router": result.kube_router.status,
        },
    )
    return result
