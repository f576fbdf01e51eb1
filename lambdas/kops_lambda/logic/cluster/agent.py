"""Install (or converge) the agent in the cluster, then apply the kube-router fix where it applies.

The API key is read from Secrets Manager and goes into the Secret's data only: it is in no return
value, log line or error message (errors name the secret's ARN).
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.adapters.kube import KubeClient
from kops_lambda.constants import AGENT_AUTOSCALER_IMAGE, AGENT_IMAGE, AGENT_NAMESPACE
from kops_lambda.errors import AgentApiKeyMissing
from kops_lambda.logic.cluster.agent_manifests import AgentSettings, agent_objects
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.kube_router import ensure_kube_router_tolerations
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.models.cluster import AgentInstallOutcome, AgentInstallResult
from kops_lambda.models.onboarding import ClusterFacts, OnboardInput, kops_minor

# Also accepted: a JSON secret holding the key under one of these names.
_JSON_KEYS = ("API_KEY", "api_key", "apiKey")


def read_api_key(secretsmanager: Any, secret_arn: str) -> str:
    try:
        with translated_aws_errors("read agent API key secret"):
            value = secretsmanager.get_secret_value(SecretId=secret_arn).get("SecretString") or ""
    except ClientError as exc:
        raise AgentApiKeyMissing(f"cannot read agent API key secret {secret_arn}: {error_code(exc)}") from None
    value = value.strip()
    if value.startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        found = [parsed[k] for k in _JSON_KEYS if isinstance(parsed, dict) and isinstance(parsed.get(k), str)]
        value = found[0].strip() if found else ""
    if not value:
        raise AgentApiKeyMissing(f"agent API key secret {secret_arn} holds no API key")
    return value


def critical_priority_allowed(kops_version: str) -> bool:
    """system-cluster-critical outside kube-system needs Kubernetes 1.17+, i.e. kOps 1.17+."""
    major, _, minor = kops_minor(kops_version).partition(".")
    try:
        return (int(major), int(minor)) >= (1, 17)
    except ValueError:
        return True


def agent_settings(onboard: OnboardInput, facts: ClusterFacts, *, api_url: str) -> AgentSettings:
    return AgentSettings(
        cluster_name=facts.cluster_name,
        region=facts.region,
        api_url=api_url,
        state_store=onboard.state_store,
        critical_priority=critical_priority_allowed(facts.kops_version),
    )


def install_agent(
    api: KubeClient,
    secretsmanager: Any,
    *,
    onboard: OnboardInput,
    facts: ClusterFacts,
    api_url: str,
) -> AgentInstallOutcome:
    settings = agent_settings(onboard, facts, api_url=api_url)
    api_key = read_api_key(secretsmanager, onboard.agent_api_key_secret_arn)
    statuses = ensure_objects(KubeRest(api), agent_objects(settings, api_key=api_key))
    kube_router, previous = ensure_kube_router_tolerations(api, networking=facts.networking)
    result = AgentInstallResult(
        namespace=AGENT_NAMESPACE,
        agent_image=AGENT_IMAGE,
        autoscaler_image=AGENT_AUTOSCALER_IMAGE,
        objects=statuses,
        kube_router=kube_router,
    )
    return AgentInstallOutcome(result=result, previous_kube_router_tolerations=previous)
