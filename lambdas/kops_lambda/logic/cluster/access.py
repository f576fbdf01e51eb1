"""Reaching a cluster's API server, and the token format aws-iam-authenticator accepts.

`cluster_api` builds a client from the kubeconfig secret and proves the server answers before a step
does any work: a missing secret or a malformed kubeconfig, and a refused token (401/403), are
`ClusterAccessError` (permanent: retrying will not fix them), a kubeconfig asking to run a command, read a
file or skip TLS verification is `UnsafeKubeconfig` and one whose client certificate has expired
`KubeconfigExpired` (both ClusterAccessErrors); an unreachable server, 429 and 5xx are
`KubeApiUnavailable` (the workflow retries). Messages name the secret, never its content.
"""

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kops_lambda.adapters.kube import api_client, load_kubeconfig, send, translated_kube_errors
from kops_lambda.adapters.kubeconfig import vet_kubeconfig
from kops_lambda.constants import ADMIN_KUBECONFIG_WARNING_SECONDS
from kops_lambda.errors import ClusterAccessError
from kops_lambda.models.onboarding import AdminKubeconfig

# aws-iam-authenticator (pkg/token): "k8s-aws-v1." + base64url(presigned STS GetCallerIdentity URL),
# unpadded; the URL must sign the x-k8s-aws-id header carrying the cluster id, so a token minted for one
# cluster is refused by another. The server rejects URLs older than 15 minutes; clients presign for 60 s.
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_URL_EXPIRES_SECONDS = 60


def cluster_api(secretsmanager: Any, kubeconfig_secret_arn: str) -> k8s.ApiClient:
    """An ApiClient for the cluster of the kubeconfig secret, checked with one `GET /version`."""
    return connected_api(load_kubeconfig(secretsmanager, kubeconfig_secret_arn))


def connected_api(kubeconfig: dict[str, Any]) -> k8s.ApiClient:
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


def check_access(api: k8s.ApiClient) -> str:
    """The server's gitVersion; raises ClusterAccessError / KubeApiUnavailable as described above."""
    try:
        with translated_kube_errors("GET /version"):
            data = send(api, "GET", "/version")
    except ApiException as exc:  # neither 401/403 nor 429/5xx: not an API server we can use
        raise ClusterAccessError(f"GET /version: unexpected answer ({exc.status})") from None
    try:
        version = json.loads(data)
    except ValueError:
        raise ClusterAccessError("GET /version: the server did not answer like a Kubernetes API") from None
    return str(version.get("gitVersion", "")) if isinstance(version, dict) else ""


def authenticator_token(sts_client: Any, cluster_id: str) -> str:
    """A bearer token for aws-iam-authenticator, for the identity of `sts_client`'s credentials.

    `cluster_id` is the authenticator's cluster id (kOps: the cluster name). The URL names the client's
    endpoint, so pass `adapters.aws.token_sts_client(region)` (AWS's regional endpoint even where the other
    clients point at a local one). Authenticators before v0.5 (kOps 1.11/1.15) accept only the global
    endpoint: pass a client whose endpoint is https://sts.amazonaws.com (region us-east-1) for those.
    """
    _sign_cluster_id_header(sts_client)
    url = sts_client.generate_presigned_url(
        "get_caller_identity",
        Params={CLUSTER_ID_HEADER: cluster_id},
        ExpiresIn=TOKEN_URL_EXPIRES_SECONDS,
        HttpMethod="GET",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(url).encode()).decode().rstrip("=")


def _sign_cluster_id_header(sts_client: Any) -> None:
    # GetCallerIdentity takes no such parameter: move it into the request context before validation,
    # then into a header before signing, so it lands in X-Amz-SignedHeaders. Calls without the
    # parameter (our own get_caller_identity) are untouched. unique_id makes registration idempotent.
    events = sts_client.meta.events
    events.register(
        "provide-client-params.sts.GetCallerIdentity",
        _take_cluster_id,
        unique_id="kops-onboard-k8s-aws-id-params",
    )
    events.register(
        "before-sign.sts.GetCallerIdentity",
        _inject_cluster_id,
        unique_id="kops-onboard-k8s-aws-id-header",
    )


def _take_cluster_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _inject_cluster_id(request: Any, **_: Any) -> None:
    cluster_id = request.context.get(CLUSTER_ID_HEADER)
    if cluster_id:
        request.headers[CLUSTER_ID_HEADER] = cluster_id
