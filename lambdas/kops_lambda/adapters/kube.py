"""Our Kubernetes API client: one server, one urllib3 connection pool, bearer or client-certificate auth, and
the one way every call site sends a request through it (`send`), with its errors in words
(`translated_kube_errors`).

Every call site sends plain JSON by path (the typed models of the official client drop fields they do not
know), so the official client would give us only its connection, at the price of importing every one of its
models (about 0.3 s of a cold start on the Spot path). This is that connection, on urllib3 directly.
"""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType, TracebackType
from typing import Any

import urllib3

from kops_lambda.adapters.pem_files import pem_file
from kops_lambda.errors import ClusterAccessError, KubeApiUnavailable

# (connect, read) seconds for every call: a busy API server must not eat the Spot window.
REQUEST_TIMEOUT: tuple[float, float] = (3.0, 10.0)
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "kops-onboard"


# Connects are retried briefly; 429/5xx are left to the callers (the workflow's Retry, the drain's deadline).
DEFAULT_RETRIES = urllib3.Retry(total=2, connect=2, read=0, backoff_factor=0.2)
# As many connections per pool as the official client kept (its default), so concurrent drains never queue.
DEFAULT_CONNECTIONS = (os.cpu_count() or 1) * 5


class KubeApiError(Exception):
    """A non-2xx answer of the API server: its status, reason, body and headers. The message holds the status
    and reason only (a Status body can echo object content)."""

    def __init__(self, status: int, reason: str | None, body: bytes = b"", headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {reason or ''}".strip())
        self.status = status
        self.reason = reason
        self.body = body
        self.headers: Mapping[str, str] = headers or {}


class BearerToken:
    """A bearer token, minted again before a request once it is `refresh_seconds` old (short-lived tokens);
    without `refresh_seconds` it is taken once."""

    def __init__(self, mint: Callable[[], str], *, refresh_seconds: float | None = None) -> None:
        self._mint = mint
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._token = mint()
        self._minted = time.monotonic()

    def current(self) -> str:
        if self._refresh_seconds is None:
            return self._token
        # Called before every request, from every record's thread: one of them mints, the others reuse it.
        with self._lock:
            if time.monotonic() - self._minted >= self._refresh_seconds:
                self._token = self._mint()
                self._minted = time.monotonic()
            return self._token


class KubeClient:
    """One API server: its URL, TLS trust and client identity, and a thread-safe pool of connections to it.
    Redirects are never followed (a credential goes to the server it was issued for, nowhere else)."""

    def __init__(
        self,
        server: str,
        *,
        token: BearerToken | None = None,
        ca_pem: bytes | None = None,
        client_certificate_pem: bytes | None = None,
        client_key_pem: bytes | None = None,
        tls_server_name: str | None = None,
        retries: urllib3.Retry = DEFAULT_RETRIES,
        connections: int | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token  # what every request's Authorization header carries (None: a client certificate)
        tls: dict[str, Any] = {}
        if self.server.startswith("https://"):
            tls["cert_reqs"] = "CERT_REQUIRED"
            if ca_pem:
                tls["ca_cert_data"] = ca_pem.decode()
            if client_certificate_pem and client_key_pem:
                # urllib3 takes the client certificate as file paths only: files of our own, never a path
                # from a stored document.
                tls["cert_file"] = pem_file(client_certificate_pem)
                tls["key_file"] = pem_file(client_key_pem)
            if tls_server_name:
                tls["server_hostname"] = tls_server_name
        self._pool = urllib3.PoolManager(
            num_pools=1, maxsize=connections or DEFAULT_CONNECTIONS, retries=retries, **tls
        )

    def request(
        self, method: str, path: str, *, body: bytes | None, headers: dict[str, str], timeout: urllib3.Timeout
    ) -> bytes:
        if self.token is not None:
            headers = headers | {"Authorization": f"Bearer {self.token.current()}"}
        response = self._pool.request(
            method, self.server + path, body=body, headers=headers, timeout=timeout, redirect=False
        )
        if not 200 <= response.status <= 299:
            raise KubeApiError(response.status, response.reason, response.data or b"", dict(response.headers))
        return bytes(response.data or b"")

    @property
    def pool_settings(self) -> Mapping[str, Any]:
        """What every connection is opened with (TLS, retries, pool size): read-only."""
        return MappingProxyType(self._pool.connection_pool_kw)

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> "KubeClient":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def send(
    api: KubeClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str = JSON,
    timeout: float | tuple[float, float] = REQUEST_TIMEOUT,
) -> bytes:
    """One request as plain JSON with a bounded timeout; returns the answer's body. A non-2xx answer raises
    KubeApiError and a transport failure urllib3's HTTPError: callers that judge answers themselves (the drain,
    the canary) catch those, the others send inside `translated_kube_errors`."""
    headers = {"Accept": JSON, "User-Agent": USER_AGENT}
    data = None
    if body is not None:
        headers["Content-Type"] = content_type
        data = json.dumps(body).encode()
    if isinstance(timeout, tuple):
        bounds = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    else:
        bounds = urllib3.Timeout(total=timeout)
    return api.request(method, path, body=data, headers=headers, timeout=bounds)


@contextmanager
def translated_kube_errors(operation: str) -> Iterator[None]:
    """429/5xx and transport failures become KubeApiUnavailable; 401/403 become ClusterAccessError."""
    try:
        yield
    except KubeApiError as exc:
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
