"""Reaching a cluster's API server, and the token format aws-iam-authenticator accepts.

`cluster_api` builds a client from the kubeconfig secret and proves the server answers before a step
does any work: a missing secret or a malformed kubeconfig, and a refused token (401/403), are
`ClusterAccessError` (permanent: retrying will not fix them), a kubeconfig asking to run a command, read a
file or skip TLS verification is `UnsafeKubeconfig` and one whose client certificate has expired
`KubeconfigExpired` (both ClusterAccessErrors); an unreachable server, 429 and 5xx are
`KubeApiUnavailable` (the workflow retries). Messages name the secret, never its content.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from kops_lambda.adapters.kube import KubeApiError, KubeClient, send, translated_kube_errors
from kops_lambda.adapters.kubeconfig import api_client, load_kubeconfig, vet_kubeconfig
from kops_lambda.constants import ADMIN_KUBECONFIG_WARNING_SECONDS
from kops_lambda.errors import ClusterAccessError
from kops_lambda.models.onboarding import AdminKubeconfig


def cluster_api(secretsmanager: Any, kubeconfig_secret_arn: str) -> KubeClient:
    """An ApiClient for the cluster of the kubeconfig secret, checked with one `GET /version`."""
    return connected_api(load_kubeconfig(secretsmanager, kubeconfig_secret_arn))


def connected_api(kubeconfig: dict[str, Any]) -> KubeClient:
    """An ApiClient for a kubeconfig `load_kubeconfig` read, checked with one `GET /version`."""
    api = api_client(kubeconfig)
    check_access(api)
    return api


def admin_kubeconfig(kubeconfig: dict[str, Any], *, now: datetime) -> AdminKubeconfig:
    """When the kubeconfig's credential expires (a client certificate's notAfter; a bearer token: unknown),
    with a warning when that is within a day."""
    access = vet_kubeconfig(kubeconfig)
    expires_at = access.certificate_not_after
    if expires_at is None:
        return AdminKubeconfig(credential="token" if access.token else "none", expires_at=None)
    warning = None
    if expires_at - now <= timedelta(seconds=ADMIN_KUBECONFIG_WARNING_SECONDS):
        hours = (expires_at - now).total_seconds() / 3600
        warning = (
            f"the kubeconfig secret's client certificate expires at {expires_at.isoformat()} (in {hours:.1f} h): "
            "offboarding will need a fresh admin kubeconfig in the secret (kops export kubecfg --admin)"
        )
    return AdminKubeconfig(credential="client-certificate", expires_at=expires_at, warning=warning)


def check_access(api: KubeClient) -> str:
    """The server's gitVersion; raises ClusterAccessError / KubeApiUnavailable as described above."""
    try:
        with translated_kube_errors("GET /version"):
            data = send(api, "GET", "/version")
    except KubeApiError as exc:  # neither 401/403 nor 429/5xx: not an API server we can use
        raise ClusterAccessError(f"GET /version: unexpected answer ({exc.status})") from None
    try:
        version = json.loads(data)
    except ValueError:
        raise ClusterAccessError("GET /version: the server did not answer like a Kubernetes API") from None
    return str(version.get("gitVersion", "")) if isinstance(version, dict) else ""
