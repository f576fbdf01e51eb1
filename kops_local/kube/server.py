"""The HTTP side: an aiohttp low-level request handler in front of an API backend.

Order per request: record it, run the before-request hooks, answer an injected fault (or reset the
connection) if one matches, then hand it to the backend: `EmulatedBackend` (check the bearer token, run
`KubeApi`) or, for the real control plane, a forwarder to kube-apiserver. Faults and hooks come before
authentication because they stand for things outside the API server (a flaky load balancer, a concurrent
writer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from aiohttp import web

from kops_local.kube.api import ApiRequest, ApiResponse, KubeApi
from kops_local.kube.errors import api_error, status_body, unauthorized
from kops_local.kube.faults import FaultPlan
from kops_local.kube.iam_tokens import AuthenticatorTokens
from kops_local.kube.recording import RecordedRequest, RequestJournal

logger = logging.getLogger(__name__)

RequestHook = Callable[[RecordedRequest], None]


def _parse_body(payload: bytes) -> tuple[Any, bool]:
    """(parsed JSON or None, whether a non-empty body failed to parse)."""
    if not payload.strip():
        return None, False
    try:
        return json.loads(payload), False
    except ValueError:
        return None, True


def _render(response: ApiResponse) -> web.Response:
    if isinstance(response.body, bytes):  # forwarded as the upstream sent it (headers carry its type)
        return web.Response(body=response.body, status=response.status, headers=response.headers)
    if isinstance(response.body, str):
        return web.Response(text=response.body, status=response.status, headers=response.headers)
    return web.Response(
        body=json.dumps(response.body).encode(),
        status=response.status,
        content_type="application/json",
        headers=response.headers,
    )


def _reset_connection(raw: web.BaseRequest) -> None:
    """Close the client's connection abruptly: SO_LINGER 0 makes the close send a TCP RST, like a crashed
    server or a load balancer dropping the connection (TLS included: the socket under it is the same)."""
    transport = raw.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _ConnectionReset(Exception):
    """Raised by `_respond` after the connection was reset: there is nothing left to answer."""


class Backend(Protocol):
    async def respond(
        self, raw: web.BaseRequest, record: RecordedRequest, payload: bytes, malformed: bool
    ) -> ApiResponse:
        """Answer one request that no hook or fault took."""


class EmulatedBackend:
    """The emulator: bearer-token check, then `KubeApi` against the in-memory store."""

    def __init__(
        self,
        api: KubeApi,
        *,
        tokens: Collection[str] | None,
        server_address: Callable[[], str],
        iam_tokens: AuthenticatorTokens | None = None,
    ) -> None:
        self._api = api
        self._tokens = frozenset(tokens) if tokens is not None else None
        self._server_address = server_address
        self._iam_tokens = iam_tokens

    async def respond(
        self, raw: web.BaseRequest, record: RecordedRequest, payload: bytes, malformed: bool
    ) -> ApiResponse:
        if not await self._authorized(raw.headers.get("Authorization", "")):
            return ApiResponse(401, status_body(unauthorized()))
        request = ApiRequest(
            method=raw.method,
            path=raw.path,
            query=record.query,
            content_type=record.content_type or "",
            accept=raw.headers.get("Accept", ""),
            body=record.body,
            malformed_body=malformed,
        )
        return self._api.handle(request, server_address=self._server_address())

    async def _authorized(self, authorization: str) -> bool:
        """The admin's tokens, a TokenRequest token of an existing ServiceAccount, or (with an STS) an
        aws-iam-authenticator token of a mapped identity."""
        if self._tokens is None:
            return True
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            return False
        if token in self._tokens or self._api.token_account(token) is not None:
            return True
        return self._iam_tokens is not None and await self._iam_tokens.mapped_arn(token) is not None


class ApiRequestHandler:
    def __init__(
        self,
        backend: Backend,
        *,
        journal: RequestJournal,
        faults: FaultPlan,
        hooks: Sequence[RequestHook],
    ) -> None:
        self._backend = backend
        self._journal = journal
        self._faults = faults
        self._hooks = hooks

    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        payload = await raw.read()
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        body, malformed = _parse_body(payload)
        record = RecordedRequest(raw.method, raw.path, dict(raw.query), content_type or None, body)
        self._journal.append(record)
        try:
            response = await self._respond(raw, record, payload, malformed)
        except _ConnectionReset:
            record.reset = True
            # aiohttp's write on the aborted transport fails and it drops the connection quietly.
            return web.Response(status=500)
        except Exception as exc:  # a failing hook or an emulator bug must still answer like an API server
            logger.exception("kube API handler failed on %s %s", raw.method, raw.path)
            response = ApiResponse(500, status_body(api_error(500, f"Internal error occurred: {exc!r}")))
        record.status = response.status
        return _render(response)

    async def _respond(
        self, raw: web.BaseRequest, record: RecordedRequest, payload: bytes, malformed: bool
    ) -> ApiResponse:
        for hook in list(self._hooks):
            hook(record)
        fault = self._faults.take(raw.method, raw.path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is None:
                if fault.after_processing:
                    record.status = (await self._backend.respond(raw, record, payload, malformed)).status
                _reset_connection(raw)
                raise _ConnectionReset
            return ApiResponse(fault.status, fault.response_body())
        return await self._backend.respond(raw, record, payload, malformed)
