"""Kubernetes API clients built from a kubeconfig held in Secrets Manager, and the one way every call site sends
a request through them (`send`), with its errors in words (`translated_kube_errors`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import urllib3
import yaml
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.adapters.kubeconfig import KubeAccess, vet_kubeconfig
from kops_lambda.adapters.pem_files import pem_file
from kops_lambda.errors import ClusterAccessError, KubeApiUnavailable, KubeconfigExpired

# (connect, read) seconds for every call: a busy API server must not eat the Spot window.
REQUEST_TIMEOUT: tuple[float, float] = (3.0, 10.0)
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def load_kubeconfig(secretsmanager: Any, secret_arn: str) -> dict[str, Any]:
    """Read a kubeconfig secret and vet the whole document (adapters/kubeconfig). Errors name the secret,
    never its content."""
    try:
        with translated_aws_errors("read kubeconfig secret"):
            value = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        raise ClusterAccessError(f"cannot read kubeconfig secret {secret_arn}: {error_code(exc)}") from exc
    try:
        kubeconfig = yaml.safe_load(value)
    except yaml.YAMLError:
        raise ClusterAccessError(f"kubeconfig secret {secret_arn} is not YAML") from None
    if not isinstance(kubeconfig, dict) or not all(
        isinstance(kubeconfig.get(key), list) and kubeconfig[key] for key in ("clusters", "users", "contexts")
    ):
        raise ClusterAccessError(f"kubeconfig secret {secret_arn} lacks clusters, users or contexts")
    vet_kubeconfig(kubeconfig, source=f"kubeconfig secret {secret_arn}")
    return kubeconfig


# Connects are retried briefly; 429/5xx are left to the callers (the workflow's Retry, the drain's deadline).
DEFAULT_RETRIES = urllib3.Retry(total=2, connect=2, read=0, backoff_factor=0.2)


def api_client(
    kubeconfig: dict[str, Any], *, retries: urllib3.Retry = DEFAULT_RETRIES, connections: int | None = None
) -> k8s.ApiClient:
    """An ApiClient for the kubeconfig's current context, built from its vetted fields only (the library's
    kubeconfig loader is never given the document). Retries and the pool size go into the configuration
    before the client exists: its connection pool is built from it once."""
    access = vet_kubeconfig(kubeconfig)
    if access.certificate_not_after is not None and access.certificate_not_after <= datetime.now(UTC):
        raise KubeconfigExpired(
            f"the client certificate of user {access.user!r} (context {access.context!r}) expired at "
            f"{access.certificate_not_after.isoformat()}"
        )
    configuration = _configuration(access)
    configuration.retries = retries
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    return k8s.ApiClient(configuration)


def _configuration(access: KubeAccess) -> k8s.Configuration:
    configuration = k8s.Configuration(host=access.server)
    configuration.verify_ssl = True
    if access.token:
        configuration.api_key["BearerToken"] = f"Bearer {access.token}"
    if access.server.startswith("https://"):
        # urllib3 takes the CA and the client certificate as file paths only: files of our own, never a
        # path from the document.
        if access.ca_pem:
            configuration.ssl_ca_cert = pem_file(access.ca_pem)
        if access.client_certificate_pem and access.client_key_pem:
            configuration.cert_file = pem_file(access.client_certificate_pem)
            configuration.key_file = pem_file(access.client_key_pem)
        if access.tls_server_name:
            configuration.tls_server_name = access.tls_server_name
    return configuration


def send(
    api: k8s.ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str = JSON,
    timeout: float | tuple[float, float] = REQUEST_TIMEOUT,
) -> bytes:
    """One request as plain JSON (the typed models drop fields they do not know), with bearer auth and a
    bounded timeout; returns the answer's body. A non-2xx answer raises ApiException and a transport failure
    urllib3's HTTPError: callers that judge answers themselves (the drain, the canary) catch those, the others
    send inside `translated_kube_errors`."""
    headers = {"Accept": JSON}
    if body is not None:
        headers["Content-Type"] = content_type
    response = api.call_api(
        path,
        method,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=timeout,
    )
    return bytes(response.data or b"")


@contextmanager
def translated_kube_errors(operation: str) -> Iterator[None]:
    """429/5xx and transport failures become KubeApiUnavailable; 401/403 become ClusterAccessError."""
    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise ClusterAccessError(f"{operation}: API server refused our credentials ({exc.status})") from None
        if exc.status == 429 or (exc.status or 0) >= 500:
            raise KubeApiUnavailable(f"{operation}: API server answered {exc.status}") from None
        raise
    except urllib3.exceptions.HTTPError as exc:
        raise KubeApiUnavailable(f"{operation}: {transport_failure(exc)}") from None


def transport_failure(exc: urllib3.exceptions.HTTPError) -> str:
    """What went wrong between us and the API server, in words (never the URL or a credential). urllib3
    wraps the cause in MaxRetryError once its own retries are spent."""
    cause: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        cause = exc.reason
    # NewConnectionError is a ConnectTimeoutError in urllib3 2: test it first.
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return "API server unreachable (could not connect)"
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        return "API server unreachable (connect timed out)"
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError):
        return "API server did not answer in time"
    if isinstance(cause, urllib3.exceptions.SSLError):
        return "API server unreachable (TLS handshake failed)"
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        inner = cause.args[1] if len(cause.args) > 1 else None
        if isinstance(inner, ConnectionResetError):
            return "API server reset the connection before answering"
        return "API server closed the connection before answering"
    return f"API server unreachable ({type(cause).__name__})"
