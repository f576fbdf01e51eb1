"""`ApiObjectStore`: the emulator's `ObjectStore` seeding/assertion methods, served by a real API server.

Tests seed and inspect clusters through `store.get/list/create/put/delete/mutate` whichever backend runs;
here each call is a request as the admin identity, straight to the API server (not through the test proxy,
so journals see only the product's requests). Like the emulator's store, `create` and `put` keep the
`status` they are given (written through the status subresource after the object), and `create` makes a
missing namespace. Unlike it, deletes are real: graceful for pods (the kubelet stand-in finishes them).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from kops_local.kube.catalog import Catalog, ResourceType, builtin_catalog
from kops_local.kube.errors import ApiError, api_error

JsonObject = dict[str, Any]
ResourceRef = str | ResourceType
_TIMEOUT = 10.0
_CONFLICT_RETRIES = 20


class ApiObjectStore:
    def __init__(self, url: str, *, token: str, ca_pem: str, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or builtin_catalog()
        self._url = url
        self._token = token
        self._context = ssl.create_default_context(cadata=ca_pem)

    # ---- transport ----

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json") -> Any:
        """One admin request; an error status raises the emulator's `ApiError` with the server's Status."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self._url}{path}", data=data, method=method)  # noqa: S310 (loopback)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT, context=self._context) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            try:
                status = json.loads(err.read())
            except ValueError:
                status = {}
            raise api_error(err.code, status.get("message", err.reason), reason=status.get("reason")) from None

    def path(self, rt: ResourceType, namespace: str | None, name: str | None = None) -> str:
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        scope = f"/namespaces/{namespace}" if rt.namespaced and namespace else ""
        return f"{base}{scope}/{rt.plural}" + (f"/{urllib.parse.quote(name)}" if name else "")

    # ---- the ObjectStore methods tests use ----

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> JsonObject | None:
        rt = self.catalog.resolve(ref)
        try:
            found: JsonObject = self.request("GET", self.path(rt, namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return found

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObject]:
        rt = self.catalog.resolve(ref)
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        items: list[JsonObject] = self.request("GET", self.path(rt, namespace) + suffix)["items"]
        for item in items:  # lists omit these per item; the emulator's store returns full objects
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        return items

    def create(self, obj: JsonObject) -> JsonObject:
        rt = self._type_of(obj)
        namespace = obj.get("metadata", {}).get("namespace")
        if rt.namespaced and namespace:
            self._ensure_namespace(namespace)
        created: JsonObject = self.request("POST", self.path(rt, namespace), obj)
        return self._keep_status(rt, obj, created)

    def put(self, obj: JsonObject) -> JsonObject:
        rt = self._type_of(obj)
        meta = obj.get("metadata", {})
        current = self.get(rt, meta.get("namespace"), meta["name"])
        if current is None:
            return self.create(obj)
        body = json.loads(json.dumps(obj))
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        replaced: JsonObject = self.request("PUT", self.path(rt, meta.get("namespace"), meta["name"]), body)
        return self._keep_status(rt, obj, replaced)

    def delete(self, ref: ResourceRef, namespace: str | None, name: str) -> JsonObject | None:
        rt = self.catalog.resolve(ref)
        try:
            deleted: JsonObject = self.request("DELETE", self.path(rt, namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        return deleted

    def mutate(
        self, ref: ResourceRef, namespace: str | None, name: str, change: Callable[[JsonObject], None]
    ) -> JsonObject:
        """Read, `change`, write back with the read resourceVersion (re-done on a 409), status included."""
        rt = self.catalog.resolve(ref)
        for _ in range(_CONFLICT_RETRIES):
            current = self.get(rt, namespace, name)
            if current is None:
                raise api_error(404, f'{rt.group_resource} "{name}" not found', reason="NotFound")
            changed = json.loads(json.dumps(current))
            change(changed)
            try:
                written: JsonObject = self.request("PUT", self.path(rt, namespace, name), changed)
                if changed.get("status") != current.get("status") and "status" in changed:
                    written = self._write_status(rt, changed | {"metadata": written["metadata"]})
                return written
            except ApiError as err:
                if err.status != 409:
                    raise
            time.sleep(0.05)
        raise api_error(409, f"{rt.group_resource} {name!r} kept changing under mutate()", reason="Conflict")

    # ---- helpers ----

    def _type_of(self, obj: JsonObject) -> ResourceType:
        rt = self.catalog.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise LookupError(f"no served type for apiVersion={obj.get('apiVersion')!r} kind={obj.get('kind')!r}")
        return rt

    def _ensure_namespace(self, namespace: str) -> None:
        if self.get("v1/namespaces", None, namespace) is None:
            try:
                self.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
            except ApiError as err:
                if err.status != 409:
                    raise

    def _keep_status(self, rt: ResourceType, sent: JsonObject, stored: JsonObject) -> JsonObject:
        status = sent.get("status")
        if not status or not rt.has_subresource("status") or stored.get("status") == status:
            return stored
        return self._write_status(rt, stored | {"status": status})

    def _write_status(self, rt: ResourceType, obj: JsonObject) -> JsonObject:
        meta = obj["metadata"]
        body = {"status": obj["status"]}  # a merge patch: no resourceVersion, the seeded status wins
        written: JsonObject = self.request(
            "PATCH",
            self.path(rt, meta.get("namespace"), meta["name"]) + "/status",
            body,
            content_type="application/merge-patch+json",
        )
        return written
