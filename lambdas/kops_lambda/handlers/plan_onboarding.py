"""The onboarding plan (`plan_only: true`): the same validation as ValidateCluster, then what every step would
create, update or refuse (logic/plan). Writes nothing: no lease, no registry record, no baseline."""

from pydantic import BaseModel

from kops_lambda.adapters.aws import client, resource
from kops_lambda.handlers.onboarding_step import onboarding_step
from kops_lambda.handlers.validation_step import validated_request
from kops_lambda.logic.cluster.access import connected_api
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.plan import plan_onboarding
from kops_lambda.logic.registry import registered_cluster
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings


@onboarding_step
def handler(request: StepRequest, settings: Settings) -> BaseModel:
    cluster_settings = load_cluster_settings()
    checked = validated_request(request, settings)
    onboard, region, identity, validated = checked.onboard, checked.region, checked.identity, checked.validated
    table = resource("dynamodb").Table(settings.registry_table)
    with connected_api(validated.kubeconfig) as api:
        plan = plan_onboarding(
            iam=client("iam"),
            ec2=client("ec2", region),
            secretsmanager=client("secretsmanager"),
            rest=KubeRest(api),
            onboard=onboard,
            validated=validated,
            registered=registered_cluster(table, region=region, cluster_name=onboard.cluster_name),
            partition=identity.partition,
            account=identity.account,
            seed_spot_role_policies=settings.seed_spot_role_policies,
            spot_role_arn=cluster_settings.spot_handler_role_arn,
            spot_force_delete=cluster_settings.spot_force_delete,
            agent_api_url=cluster_settings.agent_api_url,
        )
    logger.info("onboarding planned", extra={"actions": plan.counts(), "identity_mode": plan.identity_mode})
    return plan
