"""`ServedKubeApi`: a cluster API served over HTTP from a background thread, with the test controls.

The server runs on its own event loop in a daemon thread so synchronous callers (the official
`kubernetes` client, kubectl in a subprocess, Lambda handlers under test) can use it like a real
endpoint. It is aiohttp's low-level server directly rather than `kmock.Server`: kmock.Server patches
aiohttp's DNS resolution process-wide on entry and insists on LIFO exit, which breaks as soon as
several emulators (one per seeded cluster) start and stop in any order.

Subclasses supply the backend that answers: the emulator (`KubeApiEmulator`) or a forwarder to a real
kube-apiserver (`kops_local.controlplane.RealKubeCluster`); journal, faults and hooks are shared.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Collection
from typing import Any, Protocol

from aiohttp import web

from kops_local.kube.catalog import ResourceType
from kops_local.kube.faults import Fault, FaultPlan
from kops_local.kube.recording import RecordedRequest, RequestJournal
from kops_local.kube.server import ApiRequestHandler, Backend, RequestHook
from kops_local.kube.tls import issue_certificate

_THREAD_TIMEOUT = 10.0  # seconds to wait for the server thread to come up or to finish
_SHUTDOWN_TIMEOUT = 1.0  # seconds granted to in-flight requests on stop()


class ClusterObjects(Protocol):
    """Direct access to a cluster's objects for seeding and assertions (the emulator's store, or the same
    methods as requests to a real API server), bypassing the journal, faults and hooks."""

    def get(self, ref: str | ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def list(
        self,
        ref: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def put(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, ref: str | ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def mutate(
        self, ref: str | ResourceType, namespace: str | None, name: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]: ...


class ServedKubeApi:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Collection[str] | None = None,
        name: str = "cluster",
        tls: bool = False,
    ) -> None:
        """`tokens`: accepted bearer tokens (None: no authentication). `tls`: serve https with a
        generated CA (`ca_certificate`); kubectl only sends tokens over https."""
        self.name = name
        self._host = host
        self._port = port
        self._tokens = tuple(tokens) if tokens is not None else None
        self._certificate = issue_certificate(host, name) if tls else None
        self._journal = RequestJournal()
        self._faults = FaultPlan()
        self._hooks: list[RequestHook] = []
        self._handler: ApiRequestHandler | None = None
        self._url: str | None = None
        self._address = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def store(self) -> ClusterObjects:
        raise NotImplementedError

    def _backend(self) -> Backend:
        """What answers the requests that no hook or fault took."""
        raise NotImplementedError

    async def _on_shutdown(self) -> None:
        """Runs on the server's loop as it stops (e.g. to close upstream connections)."""

    # ---- lifecycle ----

    def settle(self) -> None:
        """Wait until the cluster's controllers have caught up with what was written (a real control plane:
        budgets observed, ReplicaSets synced, pods started; see `controlplane.settle`). The emulator has no
        controllers, so there is nothing to wait for."""

    def start(self) -> str:
        """Serve on a background thread; returns the base URL. Calling it again while running is a no-op."""
        if self._thread is not None:
            return self.url
        if self._handler is None:
            self._handler = ApiRequestHandler(
                self._backend(), journal=self._journal, faults=self._faults, hooks=self._hooks
            )
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)  # bound now: port known at once
        # Kept: a restart after stop() serves on the same address, which stored kubeconfigs name.
        self._port = sock.getsockname()[1]
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(sock, started, failure), name=f"kube-api-{self.name}", daemon=True
        )
        self._thread.start()
        if not started.wait(_THREAD_TIMEOUT) or failure:
            self.stop()
            raise RuntimeError(f"the Kubernetes API emulator {self.name!r} did not start") from (
                failure[0] if failure else None
            )
        return self.url

    def stop(self) -> None:
        """Stop serving (idempotent). The store and the port are kept: a later start() serves the same state at
        the same URL."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(_THREAD_TIMEOUT)
        self._thread = self._loop = self._stopping = None
        self._url = None

    def __enter__(self) -> ServedKubeApi:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._url

    @property
    def ca_certificate(self) -> str | None:
        """PEM of the CA that signed the server certificate (None without TLS)."""
        return self._certificate.ca_pem if self._certificate else None

    def kubeconfig(self, token: str | None = None) -> str:
        """A kubeconfig for kubectl (JSON, which is valid YAML) with this emulator as current context;
        the token defaults to the first accepted one."""
        token = token or (self._tokens[0] if self._tokens else None)
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_certificate:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_certificate.encode()).decode()
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": self.name, "cluster": cluster}],
                "users": [{"name": self.name, "user": {"token": token} if token else {}}],
                "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
                "current-context": self.name,
            },
            indent=2,
        )

    # ---- test controls ----

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request served so far, oldest first."""
        return self._journal.snapshot()

    def clear_requests(self) -> None:
        self._journal.clear()

    def inject_fault(
        self,
        *,
        method: str,
        path_pattern: str,
        status: int,
        times: int = 1,
        body: dict[str, Any] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests whose method matches (`"*"` for any) and whose path matches
        the regex (searched, so anchor it if needed) with `status` and a Status body (or `body`), after
        waiting `delay` seconds, without touching state."""
        self._faults.add(Fault(method.upper(), re.compile(path_pattern), status, times, body, delay))

    def inject_connection_reset(
        self, *, method: str, path_pattern: str, times: int = 1, delay: float = 0.0, after_processing: bool = False
    ) -> None:
        """Reset the connection (TCP RST, no HTTP response) of the next `times` matching requests, after
        `delay` seconds, without touching state; journaled with `reset` set and no status. `after_processing`:
        the server handles the request first (its change stays, the journal has the status it would have
        sent) and only its answer is lost."""
        self._faults.add(Fault(method.upper(), re.compile(path_pattern), None, times, None, delay, after_processing))

    def before_request(self, hook: RequestHook) -> None:
        """Call `hook(request)` on the server thread before each request is processed. The hook may use
        `store` (e.g. to play a concurrent writer) but must not make HTTP calls to this emulator."""
        self._hooks.append(hook)

    # ---- server thread ----

    def _serve(self, sock: socket.socket, started: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._run(sock, started))
        except BaseException as exc:  # reported to start() or, once running, lost with the thread
            failure.append(exc)
            started.set()
        finally:
            sock.close()

    async def _run(self, sock: socket.socket, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        assert self._handler is not None
        runner = web.ServerRunner(web.Server(self._handler), shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            ssl_context = self._certificate.server_context() if self._certificate else None
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
            host, port = sock.getsockname()[:2]
            url_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104  (reachable form)
            url_host = f"[{url_host}]" if ":" in url_host else url_host
            self._address = f"{url_host}:{port}"
            self._url = f"{'https' if ssl_context else 'http'}://{self._address}"
            started.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self._on_shutdown()
