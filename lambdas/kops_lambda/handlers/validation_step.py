"""What ValidateCluster and the plan (`plan_only: true`) both do first, with the same clients and errors: the
region covered, the kubeconfig secret found, the cluster validated (logic/validation)."""

from dataclasses import dataclass

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.identity import CallerIdentity, caller_identity
from kops_lambda.handlers.onboarding_step import step_kubeconfig_secret
from kops_lambda.logic.preflight import check_region_covered
from kops_lambda.logic.validation import ValidatedCluster, validate_cluster
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.steps import StepRequest
from kops_lambda.observability import logger
from kops_lambda.settings import Settings, load_spot_regions


@dataclass(frozen=True)
class ValidatedRequest:
    request: StepRequest
    onboard: OnboardInput
    region: str
    identity: CallerIdentity
    kubeconfig_secret_arn: str
    validated: ValidatedCluster


def validated_request(request: StepRequest, settings: Settings) -> ValidatedRequest:
    onboard = request.onboard_input()
    region = onboard.region or settings.region
    logger.append_keys(cluster=onboard.cluster_name, region=region)
    check_region_covered(region, load_spot_regions(settings.region))
    identity = caller_identity()
    secret_arn = step_kubeconfig_secret(onboard, settings, cluster_name=onboard.cluster_name)
    validated = validate_cluster(
        onboard,
        region=region,
        kubeconfig_secret_arn=secret_arn,
        ec2=client("ec2", region),
        autoscaling=client("autoscaling", region),
        s3=client("s3", region),
        secretsmanager=client("secretsmanager"),
    )
    return ValidatedRequest(request, onboard, region, identity, secret_arn, validated)
