"""Kubernetes API clients from a server URL, a CA and a bearer token: no kubeconfig loader in between, so
nothing a stored credential says can make us run a command or read a file."""

from collections.abc import Callable
from urllib.parse import urlparse

import urllib3

from kops_lambda.adapters.kube import DEFAULT_RETRIES, BearerToken, KubeClient
from kops_lambda.errors import ClusterAccessError


def bearer_api_client(
    server: str,
    ca_pem: str | None,
    token: Callable[[], str],
    *,
    refresh_seconds: float | None = None,
    retries: urllib3.Retry = DEFAULT_RETRIES,
    connections: int | None = None,
) -> KubeClient:
    """A client sending `token()` as its bearer token. With `refresh_seconds` the token is minted again
    before a request once it is that old (short-lived tokens); without, it is taken once."""
    parsed = urlparse(server)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterAccessError("the stored credential has no usable server URL")
    if parsed.scheme == "https" and not ca_pem:
        raise ClusterAccessError("the stored credential has an https server but no CA to verify it")
    return KubeClient(
        server,
        token=BearerToken(token, refresh_seconds=refresh_seconds),
        ca_pem=ca_pem.encode() if ca_pem else None,
        retries=retries,
        connections=connections,
    )
