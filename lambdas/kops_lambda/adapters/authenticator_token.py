"""The bearer token format aws-iam-authenticator accepts, minted from an STS client's credentials."""

import base64
from typing import Any

# aws-iam-authenticator (pkg/token): "k8s-aws-v1." + base64url(presigned STS GetCallerIdentity URL),
# unpadded; the URL must sign the x-k8s-aws-id header carrying the cluster id, so a token minted for one
# cluster is refused by another. The server rejects URLs older than 15 minutes; clients presign for 60 s.
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_URL_EXPIRES_SECONDS = 60


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
