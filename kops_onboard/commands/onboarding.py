"""`kops-onboard onboard`: validate locally, start the execution, show each step live, end with outputs."""

from dataclasses import dataclass
from typing import Any

from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.workflow import ResultKey
from kops_onboard.commands.common import aws_errors, emit
from kops_onboard.commands.options import Output
from kops_onboard.commands.workflow import run_workflow
from kops_onboard.deployment import Deployment


@dataclass(frozen=True)
class OnboardOptions:
    """The options `onboard` and `plan` share: what the onboarding execution's input is made of."""

    cluster: str
    region: str | None = None
    cluster_region: str | None = None
    kubeconfig_secret: str | None = None
    agent_api_key_secret: str | None = None
    state_store: str | None = None
    rotate_access_key: bool = False
    allow_s3_read: bool = False
    identity_mode: str | None = None  # validated by the input model (None: its default)


def run_onboard(
    options: OnboardOptions,
    *,
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> None:
    deployment = Deployment(options.region)
    with aws_errors(output):
        execution_arn, result = run_workflow(
            deployment,
            purpose="onboard",
            model=OnboardInput,
            payload=onboard_payload(deployment, options),
            state_machine=state_machine,
            timeout=timeout,
            output=output,
        )
    summary = summarize(result)
    warnings = onboarding_warnings(result)
    document = {"status": "SUCCEEDED", "execution_arn": execution_arn, **summary, "warnings": warnings}
    emit(output, document, "\n".join([_summary_text(summary), *(f"warning: {w}" for w in warnings)]))


def onboard_payload(deployment: Deployment, options: OnboardOptions) -> dict[str, Any]:
    """The onboarding execution's input from the command's options (`plan` sends the same, plus plan_only)."""
    return {
        "cluster_name": options.cluster,
        "region": options.cluster_region or options.region or deployment.region_name,
        "kubeconfig_secret_arn": options.kubeconfig_secret or deployment.kubeconfig_secret(options.cluster),
        "agent_api_key_secret_arn": options.agent_api_key_secret or deployment.agent_api_key_secret(),
        "state_store": options.state_store,
        "rotate_access_key": options.rotate_access_key,
        "allow_s3_read": options.allow_s3_read,
        "identity_mode": options.identity_mode,  # validated by the input model (None: its default)
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Names and ARNs only: step results never hold secret values, and this picks fields explicitly."""
    iam, key_pair = result.get(ResultKey.IAM, {}), result.get(ResultKey.KEY_PAIR, {})
    access_key, identity = result.get(ResultKey.ACCESS_KEY, {}), result.get(ResultKey.IDENTITY_MAPPING, {})
    cluster = result.get(ResultKey.CLUSTER, {})
    return {
        "cluster": cluster.get("cluster_name"),
        "kops_version": cluster.get("kops_version"),
        "identity_mode": cluster.get("identity_mode"),
        "iam_user_arn": iam.get("user_arn"),
        "policies": iam.get("managed_policy_arns"),
        "spot_role_arn": iam.get("spot_role_arn"),
        "key_pair": key_pair.get("key_name"),
        "private_key_secret_arn": key_pair.get("private_key_secret_arn"),
        "access_key_id": access_key.get("access_key_id"),
        "access_key_secret_arn": access_key.get("secret_arn"),
        # authenticator: where the mapping is; service-account: the vendor's ServiceAccount and its kubeconfig
        "identity_mapping": identity.get("configmap") or identity.get("service_account"),
        "vendor_kubeconfig_secret_arn": identity.get("kubeconfig_secret_arn"),
        "agent_namespace": result.get(ResultKey.AGENT, {}).get("namespace"),
        "admin_kubeconfig_expires_at": (admin_kubeconfig(result) or {}).get("expires_at") or "no expiry known",
    }


def onboarding_warnings(result: dict[str, Any]) -> list[str]:
    warning = (admin_kubeconfig(result) or {}).get("warning")
    return [str(warning)] if warning else []


def admin_kubeconfig(result: dict[str, Any]) -> dict[str, Any] | None:
    """What ValidateCluster found about the kubeconfig secret's credential lifetime."""
    found = result.get(ResultKey.CLUSTER, {}).get("admin_kubeconfig")
    return found if isinstance(found, dict) else None


def _summary_text(summary: dict[str, Any]) -> str:
    width = max(len(k) for k in summary)
    lines = [
        f"  {key:<{width}}  {', '.join(value) if isinstance(value, list) else value}" for key, value in summary.items()
    ]
    return "onboarded:\n" + "\n".join(lines)
