"""Kubernetes API clients from a server URL, a CA and a bearer token: no kubeconfig loader in between, so
nothing a stored credential says can make us run a command or read a file."""

import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import urllib3
from kubernetes import client as k8s

from kops_lambda.adapters.kube import DEFAULT_RETRIES
from kops_lambda.adapters.pem_files import pem_file
from kops_lambda.errors import ClusterAccessError


def bearer_api_client(
    server: str,
    ca_pem: str | None,
    token: Callable[[], str],
    *,
    refresh_seconds: float | None = None,
    retries: urllib3.Retry = DEFAULT_RETRIES,
    connections: int | None = None,
) -> k8s.ApiClient:
    """An ApiClient sending `token()` as its bearer token. With `refresh_seconds` the token is minted again
    before a request once it is that old (short-lived tokens); without, it is taken once."""
    parsed = urlparse(server)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterAccessError("the stored credential has no usable server URL")
    if parsed.scheme == "https" and not ca_pem:
        raise ClusterAccessError("the stored credential has an https server but no CA to verify it")
    configuration = k8s.Configuration(host=server.rstrip("/"))
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.api_key = {"BearerToken": token()}
    if ca_pem:
        configuration.ssl_ca_cert = pem_file(ca_pem.encode())
    if refresh_seconds is not None:
        configuration.refresh_api_key_hook = _refresher(token, refresh_seconds)
    configuration.retries = retries
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    return k8s.ApiClient(configuration)


def _refresher(token: Callable[[], str], refresh_seconds: float) -> Callable[[k8s.Configuration], None]:
    lock = threading.Lock()
    minted = [time.monotonic()]

    def refresh(configuration: k8s.Configuration) -> None:
        # Called before every request, from every record's thread: one of them mints, the others reuse it.
        with lock:
            if time.monotonic() - minted[0] >= refresh_seconds:
                configuration.api_key = {"BearerToken": token()}
                minted[0] = time.monotonic()

    return refresh
