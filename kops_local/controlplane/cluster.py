"""`RealKubeCluster`: a real control plane behind the emulator's test surface.

Clients talk to a small proxy of ours (the same journal, fault injection and before-request hooks as the
emulator, see `ServedKubeApi`) that forwards every request unchanged to kube-apiserver, so authentication,
RBAC, admission, validation, eviction and the controllers are the real ones. Bearer tokens given as
`tokens` stand for the cluster's admin (like the emulator's accepted tokens) and are swapped for the
apiserver's admin token; any other credential (a ServiceAccount token, impersonation headers) passes
through untouched and is judged by the real server.

Given `sts_url` (the local AWS endpoint), the cluster runs its aws-iam-authenticator DaemonSet, when it has
one, as the apiserver's token webhook (`authenticator.py`): tokens of IAM identities are then verified against
that STS and mapped through the cluster's own mapping backend.
"""

from __future__ import annotations

import atexit
import ssl
import tempfile
import threading
from collections.abc import Collection
from pathlib import Path

import aiohttp
from aiohttp import web

from kops_local.controlplane.authenticator import AuthenticatorPod, WebhookEndpoint
from kops_local.controlplane.binaries import Binaries, ControlPlaneUnavailable, ensure_binaries
from kops_local.controlplane.kubelet import KubeletStandIn
from kops_local.controlplane.objects import ApiObjectStore
from kops_local.controlplane.servers import ClusterCredentials, Etcd, KubeControlPlane
from kops_local.controlplane.settle import settle
from kops_local.kube.api import ApiResponse
from kops_local.kube.recording import RecordedRequest
from kops_local.kube.served import ServedKubeApi
from kops_local.kube.server import Backend

# Request headers a client's intent lives in; hop-by-hop ones (Host, Content-Length, ...) are the proxy's.
_FORWARDED_REQUEST_HEADERS = (
    "Accept",
    "Content-Type",
    "User-Agent",
    "Impersonate-User",
    "Impersonate-Group",
    "Impersonate-Uid",
)
_FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Warning", "Audit-Id", "Retry-After")
_UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=120)

_etcd_lock = threading.Lock()
_etcd: Etcd | None = None
_POOL_SIZE = 4  # idle control planes kept per process for the next clusters, of each kind
# By kind: with a token webhook (for clusters given an STS to run their authenticator with) or without.
_pools: dict[bool, list[KubeControlPlane]] = {True: [], False: []}
_pool_lock = threading.Lock()


def shared_etcd(binaries: Binaries) -> Etcd:
    """One etcd per process, started on first use and stopped at exit; clusters use key prefixes of it."""
    global _etcd  # noqa: PLW0603 (a process-wide server, like a connection pool)
    with _etcd_lock:
        if _etcd is None or not _etcd.running:
            etcd = Etcd(binaries, workdir=Path(tempfile.mkdtemp(prefix="kops-onboard-etcd-")))
            etcd.start()
            atexit.register(etcd.stop)
            _etcd = etcd
        return _etcd


def _take_control_plane(binaries: Binaries, name: str, *, webhook: bool) -> KubeControlPlane:
    with _pool_lock:
        if _pools[webhook]:
            return _pools[webhook].pop()
    control_plane = KubeControlPlane(binaries, shared_etcd(binaries), name=name, webhook=webhook)
    control_plane.start()
    atexit.register(control_plane.stop)  # runs before etcd's stop (registered earlier; atexit is LIFO)
    return control_plane


def _give_back(control_plane: KubeControlPlane) -> None:
    """Reset it for the next cluster, or stop it when the pool is full or the reset failed."""
    pool = _pools[control_plane.webhook is not None]
    with _pool_lock:
        keep = len(pool) < _POOL_SIZE
    if keep:
        try:
            control_plane.reset()
        except ControlPlaneUnavailable:
            keep = False
    if not keep:
        control_plane.stop()
        return
    with _pool_lock:
        pool.append(control_plane)


class ForwardingBackend:
    def __init__(self, upstream: ClusterCredentials, *, admin_tokens: frozenset[str] | None) -> None:
        self._upstream = upstream
        self._admin_tokens = admin_tokens
        self._ssl = ssl.create_default_context(cadata=upstream.ca_pem)
        self._session: aiohttp.ClientSession | None = None

    def _authorization(self, sent: str) -> str | None:
        scheme, _, token = sent.partition(" ")
        if self._admin_tokens is None and not sent:
            return f"Bearer {self._upstream.admin_token}"
        if scheme.lower() == "bearer" and self._admin_tokens and token.strip() in self._admin_tokens:
            return f"Bearer {self._upstream.admin_token}"
        return sent or None

    async def respond(
        self, raw: web.BaseRequest, record: RecordedRequest, payload: bytes, malformed: bool
    ) -> ApiResponse:
        if self._session is None:  # created on the server's own event loop
            self._session = aiohttp.ClientSession(timeout=_UPSTREAM_TIMEOUT)
        headers = {name: raw.headers[name] for name in _FORWARDED_REQUEST_HEADERS if name in raw.headers}
        for name in raw.headers:
            if name.lower().startswith("impersonate-extra-"):
                headers[name] = raw.headers[name]
        authorization = self._authorization(raw.headers.get("Authorization", ""))
        if authorization:
            headers["Authorization"] = authorization
        async with self._session.request(
            raw.method,
            f"{self._upstream.url}{raw.raw_path}",
            data=payload or None,
            headers=headers,
            ssl=self._ssl,
        ) as upstream:
            body = await upstream.read()
            kept = {name: upstream.headers[name] for name in _FORWARDED_RESPONSE_HEADERS if name in upstream.headers}
            return ApiResponse(upstream.status, body, kept)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class RealKubeCluster(ServedKubeApi):
    """kube-apiserver + kube-controller-manager + the kubelet stand-in, served through the test proxy."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Collection[str] | None = None,
        name: str = "cluster",
        tls: bool = False,
        binaries: Binaries | None = None,
        sts_url: str | None = None,
    ) -> None:
        """`sts_url`: where the cluster's aws-iam-authenticator verifies tokens (the local AWS endpoint);
        without it the apiserver has no token webhook (a control plane of the other pool) and only admin and
        ServiceAccount tokens authenticate."""
        super().__init__(host=host, port=port, tokens=tokens, name=name, tls=tls)
        self._binaries = binaries or ensure_binaries(build=False)
        self._sts_url = sts_url
        self._control_plane: KubeControlPlane | None = None
        self._kubelet: KubeletStandIn | None = None
        self._authenticator: AuthenticatorPod | None = None
        self._forwarder: ForwardingBackend | None = None
        self._store: ApiObjectStore | None = None

    @property
    def admin(self) -> ClusterCredentials:
        """The apiserver itself (not the proxy) as its admin: for tools that must bypass the test proxy."""
        if self._control_plane is None or self._control_plane.credentials is None:
            raise RuntimeError("the control plane is not running: call start() first")
        return self._control_plane.credentials

    @property
    def store(self) -> ApiObjectStore:
        if self._store is None:
            raise RuntimeError("the control plane is not running: call start() first")
        return self._store

    @property
    def startup_seconds(self) -> dict[str, float]:
        return dict(self._control_plane.startup_seconds) if self._control_plane else {}

    @property
    def webhook(self) -> WebhookEndpoint | None:
        """The apiserver's token webhook (None: it has none, the cluster was started without `sts_url`)."""
        if self._control_plane is None:
            raise RuntimeError("the control plane is not running: call start() first")
        return self._control_plane.webhook

    @property
    def authenticator(self) -> AuthenticatorPod:
        """The runner of the cluster's aws-iam-authenticator (needs `sts_url`)."""
        if self._authenticator is None:
            raise RuntimeError(f"{self.name}: no authenticator (not started, or started without sts_url)")
        return self._authenticator

    def settle(self) -> None:
        """Wait for the controllers (`settle.py`), and for the authenticator to run the DaemonSet as it now
        is: a roll (MountedFile mapping changes) restarts it, and while it restarts tokens are refused."""
        settle(self.store)
        if self._authenticator is not None:
            self._authenticator.sync()

    def _backend(self) -> Backend:
        self._forwarder = ForwardingBackend(
            self.admin, admin_tokens=frozenset(self._tokens) if self._tokens is not None else None
        )
        return self._forwarder

    async def _on_shutdown(self) -> None:
        if self._forwarder is not None:
            await self._forwarder.close()

    def start(self) -> str:
        if self._control_plane is None:
            control_plane = _take_control_plane(self._binaries, self.name, webhook=self._sts_url is not None)
            credentials = control_plane.credentials
            assert credentials is not None
            self._control_plane = control_plane
            self._store = ApiObjectStore(credentials.url, token=credentials.admin_token, ca_pem=credentials.ca_pem)
            self._kubelet = KubeletStandIn(self._store, name=self.name)
            self._kubelet.start()
            if self._sts_url is not None:
                assert control_plane.webhook is not None
                self._authenticator = AuthenticatorPod(
                    self._binaries,
                    self._store,
                    endpoint=control_plane.webhook,
                    kubeconfig=control_plane.admin_kubeconfig,
                    sts_url=self._sts_url,
                    name=self.name,
                )
                self._authenticator.start()
        return super().start()

    def stop(self) -> None:
        """Stop the proxy and the kubelet stand-in; the control plane is reset (the cluster's objects are
        deleted) and kept for the next cluster, or stopped."""
        super().stop()
        if self._kubelet is not None:
            self._kubelet.stop()
            self._kubelet = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if self._control_plane is not None:
            _give_back(self._control_plane)
            self._control_plane = None
        self._handler = None
        self._store = None
