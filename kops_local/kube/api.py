"""The Kubernetes API verbs over the object store: what each method on each path means.

Transport-free (no aiohttp here): takes an `ApiRequest`, returns an `ApiResponse` with a JSON body,
turning every `ApiError` into its `Status`. Each request runs under the store lock, so it is atomic.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kops_local.kube import discovery
from kops_local.kube.errors import (
    ApiError,
    api_error,
    bad_request,
    method_not_allowed,
    status_body,
    success_status,
)
from kops_local.kube.eviction import evict, reconcile_budget
from kops_local.kube.patching import SUPPORTED as PATCH_TYPES
from kops_local.kube.patching import apply_patch, unsupported_patch_type
from kops_local.kube.routing import DiscoveryPath, ResourcePath, parse_path
from kops_local.kube.selectors import parse_field_selector, parse_label_selector
from kops_local.kube.store import JsonObject, ObjectStore, clone
from kops_local.kube.tables import table, wants_table

JSON_TYPES = ("", "application/json", "*/*")
# Resources whose DELETE answers with the object (ReturnDeletedObject in the real registry); others
# answer with a Success Status.
_RETURNS_DELETED = frozenset({"pods", "namespaces", "services"})


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # URL-decoded
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""  # media type only, lower-case, "" when absent
    accept: str = ""
    body: Any = None  # parsed JSON
    malformed_body: bool = False  # a body was sent but is not JSON


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any  # JSON-able; a str is sent as text/plain
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[ResourcePath, ApiRequest], ApiResponse]
# kube-apiserver's TokenRequest defaults and minimum (seconds).
_DEFAULT_TOKEN_SECONDS = 3600
_MIN_TOKEN_SECONDS = 600


@dataclass(frozen=True)
class IssuedToken:
    namespace: str
    name: str
    uid: str
    expires_at: float


class KubeApi:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._pdbs = store.catalog.resolve("policy/v1/poddisruptionbudgets")
        self._service_accounts = store.catalog.resolve("v1/serviceaccounts")
        self._issued: dict[str, IssuedToken] = {}

    def token_account(self, token: str) -> str | None:
        """`namespace/name` of the ServiceAccount a TokenRequest token was issued for, while that account (the
        same uid) exists and the token has not expired; None otherwise. The emulator has no RBAC: such a
        token may do anything the admin's may."""
        issued = self._issued.get(token)
        if issued is None or issued.expires_at <= time.time():
            return None
        with self.store.lock:
            account = self.store.get(self._service_accounts, issued.namespace, issued.name)
        if account is None or account["metadata"]["uid"] != issued.uid:
            return None
        return f"{issued.namespace}/{issued.name}"

    def handle(self, request: ApiRequest, *, server_address: str) -> ApiResponse:
        try:
            target = parse_path(self.store.catalog, request.path)
            if isinstance(target, DiscoveryPath):
                return self._discovery(target, request, server_address)
            if request.malformed_body and _is_json(request.content_type):  # other media types: 415 below
                raise bad_request("the request body is not valid JSON")
            with self.store.lock:
                return self._handler(target, request.method)(target, request)
        except ApiError as error:
            return ApiResponse(error.status, status_body(error))

    def _handler(self, target: ResourcePath, method: str) -> Handler:
        handlers: dict[str, Handler]
        if target.subresource == "eviction":
            handlers = {"POST": self._evict}
        elif target.subresource == "token":
            handlers = {"POST": self._request_token}
        elif target.name is None:
            handlers = {"GET": self._list, "POST": self._create, "DELETE": self._delete_collection}
        elif target.subresource == "status":
            handlers = {"GET": self._get, "PUT": self._replace, "PATCH": self._patch}
        else:
            handlers = {"GET": self._get, "PUT": self._replace, "PATCH": self._patch, "DELETE": self._delete}
        handler = handlers.get(method)
        if handler is None:
            raise method_not_allowed()
        return handler

    # ---- discovery ----

    def _discovery(self, target: DiscoveryPath, request: ApiRequest, server_address: str) -> ApiResponse:
        if request.method != "GET":
            raise method_not_allowed()
        catalog = self.store.catalog
        documents: dict[str, Callable[[], Any]] = {
            "root": lambda: discovery.root_paths(catalog),
            "version": lambda: discovery.KUBERNETES_VERSION,
            "health": lambda: "ok",
            "api": lambda: discovery.api_versions(server_address),
            "apis": lambda: discovery.api_group_list(catalog),
            "group": lambda: discovery.api_group(catalog, target.group),
            "groupversion": lambda: discovery.api_resource_list(catalog, target.group, target.version),
        }
        return ApiResponse(200, documents[target.document]())

    # ---- reads ----

    def _get(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        assert target.name is not None
        obj = self._read(target, target.name)
        if wants_table(request.accept):
            return ApiResponse(200, self._table(target, [obj], request))
        return ApiResponse(200, obj)

    def _list(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        if request.query.get("watch") in ("true", "1"):
            raise api_error(405, "watch is not supported by the emulator")
        if target.resource is self._pdbs:
            for budget in self.store.select(self._pdbs, target.namespace):
                reconcile_budget(self.store, budget)
        items = self._select(target, request)
        if wants_table(request.accept):
            return ApiResponse(200, self._table(target, items, request))
        rt = target.resource
        return ApiResponse(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": items,
            },
        )

    def _read(self, target: ResourcePath, name: str) -> JsonObject:
        obj = self.store.read(target.resource, target.namespace, name)
        if target.resource is self._pdbs:  # the emulated disruption controller keeps its status current
            reconcile_budget(self.store, obj)
            obj = self.store.read(target.resource, target.namespace, name)
        return obj

    def _select(self, target: ResourcePath, request: ApiRequest) -> list[JsonObject]:
        try:
            labels = (
                parse_label_selector(request.query["labelSelector"]) if request.query.get("labelSelector") else None
            )
            fields = (
                parse_field_selector(request.query["fieldSelector"]) if request.query.get("fieldSelector") else None
            )
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return self.store.select(target.resource, target.namespace, labels, fields)

    def _table(self, target: ResourcePath, objects: list[JsonObject], request: ApiRequest) -> JsonObject:
        return table(
            target.resource,
            objects,
            include_object=request.query.get("includeObject", "Metadata"),
            resource_version=self.store.resource_version,
        )

    # ---- writes ----

    def _create(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        if target.resource.namespaced and target.namespace is None:
            raise method_not_allowed()
        obj = self.store.insert(target.resource, self._object_body(target, request), require_namespace=True)
        return ApiResponse(201, self._after_write(target, obj))

    def _replace(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        assert target.name is not None
        current = self.store.read(target.resource, target.namespace, target.name)
        new = self._scope_to_subresource(target, current, self._object_body(target, request))
        obj = self.store.replace(target.resource, new, check_version=True)
        return ApiResponse(200, self._after_write(target, obj))

    def _patch(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        assert target.name is not None
        if request.content_type not in PATCH_TYPES:
            raise unsupported_patch_type(request.content_type)
        current = self.store.read(target.resource, target.namespace, target.name)
        patched = apply_patch(request.content_type, clone(current), request.body)
        meta = patched.get("metadata")
        if not isinstance(meta, dict):
            meta = patched["metadata"] = {}
        meta["name"] = target.name  # a patch cannot move an object
        if target.namespace is not None:
            meta["namespace"] = target.namespace
        # A resourceVersion the patch set (differing from the current one) is a precondition: 409 if stale.
        obj = self.store.replace(
            target.resource, self._scope_to_subresource(target, current, patched), check_version=True
        )
        return ApiResponse(200, self._after_write(target, obj))

    def _delete(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        assert target.name is not None
        # DeleteOptions.gracePeriodSeconds/propagationPolicy are accepted and ignored: removal is immediate.
        options = request.body if isinstance(request.body, dict) else {}
        preconditions = options.get("preconditions") or {}
        rt = target.resource
        obj = self.store.remove(
            rt,
            target.namespace,
            target.name,
            uid=preconditions.get("uid"),
            resource_version=preconditions.get("resourceVersion"),
        )
        if (rt.plural in _RETURNS_DELETED and not rt.group) or obj["metadata"].get("finalizers"):
            return ApiResponse(200, obj)
        details = {"name": target.name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
        if rt.group:
            details["group"] = rt.group
        return ApiResponse(200, success_status(200, details))

    def _delete_collection(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        rt = target.resource
        if rt.namespaced and target.namespace is None:
            raise method_not_allowed()
        removed = [
            self.store.remove(rt, target.namespace, obj["metadata"]["name"]) for obj in self._select(target, request)
        ]
        return ApiResponse(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": removed,
            },
        )

    def _request_token(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        """serviceaccounts/<name>/token: a random token, accepted until it expires or its account is deleted."""
        assert target.namespace is not None and target.name is not None
        account = self.store.read(target.resource, target.namespace, target.name)
        body = request.body if isinstance(request.body, dict) else {}
        spec = body.get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or _DEFAULT_TOKEN_SECONDS)
        if seconds < _MIN_TOKEN_SECONDS:
            raise bad_request(
                f"spec.expirationSeconds: may not specify a duration less than {_MIN_TOKEN_SECONDS} seconds"
            )
        token = secrets.token_urlsafe(32)
        expires_at = time.time() + seconds
        self._issued[token] = IssuedToken(target.namespace, target.name, account["metadata"]["uid"], expires_at)
        stamp = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": target.name, "namespace": target.namespace},
            "spec": {**spec, "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": stamp},
        }
        return ApiResponse(201, answer)

    def _evict(self, target: ResourcePath, request: ApiRequest) -> ApiResponse:
        assert target.namespace is not None and target.name is not None
        return ApiResponse(201, evict(self.store, target.namespace, target.name, request.body))

    # ---- helpers ----

    def _object_body(self, target: ResourcePath, request: ApiRequest) -> JsonObject:
        """The request's object, checked against the URL like the real server, with URL identity filled in."""
        rt = target.resource
        if request.content_type not in JSON_TYPES:
            raise api_error(
                415,
                f"the body of the request was in an unknown format ({request.content_type})"
                " - accepted media types include: application/json",
            )
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise bad_request(f"the request body must be a {rt.kind} object")
        if body.get("apiVersion", rt.api_version) != rt.api_version or body.get("kind", rt.kind) != rt.kind:
            raise bad_request(
                f"the object's type {body.get('apiVersion')}/{body.get('kind')} does not match "
                f"the resource {rt.api_version}/{rt.kind}"
            )
        meta = dict(body.get("metadata") or {})
        if target.namespace is not None:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = target.namespace
        if target.name is not None:
            if meta.get("name") not in (None, "", target.name):
                raise bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})"
                )
            meta["name"] = target.name
        return {**body, "metadata": meta}

    @staticmethod
    def _scope_to_subresource(target: ResourcePath, current: JsonObject, candidate: JsonObject) -> JsonObject:
        """Writes to /status change only the status; writes to the main resource leave the status alone
        (for resources that have a status subresource), as the real API server does."""
        if target.subresource == "status":
            result = clone(current)
            _set_or_drop(result, "status", candidate.get("status"))
            _set_or_drop(result["metadata"], "resourceVersion", candidate["metadata"].get("resourceVersion"))
            return result
        if target.resource.has_subresource("status"):
            result = dict(candidate)
            _set_or_drop(result, "status", current.get("status"))
            return result
        return candidate

    def _after_write(self, target: ResourcePath, obj: JsonObject) -> JsonObject:
        if target.resource is not self._pdbs or obj["metadata"].get("deletionTimestamp"):
            return obj
        reconcile_budget(self.store, obj)
        return self.store.read(self._pdbs, obj["metadata"]["namespace"], obj["metadata"]["name"])


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def _set_or_drop(obj: JsonObject, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value
