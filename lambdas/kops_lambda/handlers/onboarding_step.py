"""What every onboarding handler does around its step (as run_cleanup is for the cleanup handlers): the
Powertools decorators, the settings, the state machine's envelope parsed, logs keyed by the execution, the
result dumped as JSON."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from kops_lambda.adapters.identity import caller_identity
from kops_lambda.logic.cluster.binding import kubeconfig_secret
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.steps import StepRequest, parse_model
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import Settings, load_settings

# The step itself, given the validated envelope and the settings; its result lands at the step's result key.
OnboardingStepBody = Callable[[StepRequest, Settings], BaseModel | dict[str, Any]]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def onboarding_step(body: OnboardingStepBody) -> LambdaHandler:
    """The Lambda handler running `body`; the result is never traced (it may name secrets' ARNs)."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        settings = load_settings()
        request = parse_model(StepRequest, event)
        logger.append_keys(execution_id=request.execution_id)
        result = body(request, settings)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    # The Powertools decorators are untyped: the handler's own signature is the one that holds.
    typed: LambdaHandler = handler
    return typed


def step_kubeconfig_secret(onboard: OnboardInput, settings: Settings, *, cluster_name: str) -> str:
    """The ARN of the cluster's kubeconfig secret: the input's, or our name for it in this account."""
    identity = caller_identity()
    return kubeconfig_secret(
        onboard.kubeconfig_secret_arn,
        cluster_name=cluster_name,
        partition=identity.partition,
        account=identity.account,
        region=settings.region,
    )
