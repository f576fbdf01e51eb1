"""The emulated etcd + generic registry: objects, metadata, resourceVersions, optimistic concurrency.

Thread-safe: one re-entrant lock guards everything. The HTTP layer holds `lock` across a whole request
(e.g. read-patch-write, or evict = read pod + PDBs + delete) so each request is atomic, while tests
seed and inspect state from their own threads through the copying public methods.

Stored dicts are never mutated after they are stored (every write stores a fresh copy), so the
`read`/`select` methods can hand out references for serialisation without copying.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kops_local.kube.catalog import Catalog, ResourceType, builtin_catalog
from kops_local.kube.errors import already_exists, bad_request, conflict, invalid, not_found
from kops_local.kube.selectors import (
    FieldRequirement,
    LabelRequirement,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)

JsonObject = dict[str, Any]
JsonList = list[JsonObject]  # spelled once here: inside ObjectStore, `list` is a method name
ResourceRef = str | ResourceType
_T = TypeVar("_T")
_Key = tuple[str, str]  # (namespace or "" for cluster-scoped, name)

_IMMUTABLE_ROLE_REF = frozenset({"clusterrolebindings", "rolebindings"})
# Server-managed metadata a client cannot change on update.
_IMMUTABLE_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
# The API server's generateName suffix alphabet (no vowels, no confusable characters).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(obj: _T) -> _T:
    """Deep copy of JSON data; also rejects non-JSON values early (they could not be served later)."""
    return cast(_T, json.loads(json.dumps(obj)))


def _apply_create_defaults(rt: ResourceType, obj: JsonObject) -> None:
    """Defaults the real API server (or a controller, instantly) puts on new objects."""
    if rt.plural == "namespaces" and not rt.group:
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif rt.plural == "pods" and not rt.group:
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif rt.plural == "poddisruptionbudgets":
        # Go int32 fields without omitempty: clients expect them present even before reconciliation.
        status = obj.setdefault("status", {})
        for field in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"):
            status.setdefault(field, 0)


class ObjectStore:
    def __init__(self, catalog: Catalog | None = None, *, namespaces: tuple[str, ...] = DEFAULT_NAMESPACES) -> None:
        self.catalog = catalog or builtin_catalog()
        self.lock = threading.RLock()
        self._objects: dict[ResourceType, dict[_Key, JsonObject]] = {rt: {} for rt in self.catalog}
        self._revision = 0
        self._namespaces = self.catalog.resolve("v1/namespaces")
        for namespace in namespaces:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion handed out (what a list response carries)."""
        with self.lock:
            return str(self._revision)

    # ---- public API for seeding and assertions: resolves loose refs, copies in and out ----

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> JsonObject | None:
        rt = self.catalog.resolve(ref)
        with self.lock:
            obj = self._objects[rt].get(self._key(rt, namespace, name))
            return clone(obj) if obj is not None else None

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> JsonList:
        rt = self.catalog.resolve(ref)
        labels = parse_label_selector(label_selector) if label_selector else None
        fields = parse_field_selector(field_selector) if field_selector else None
        with self.lock:
            return [clone(obj) for obj in self.select(rt, namespace, labels, fields)]

    def create(self, obj: JsonObject) -> JsonObject:
        """Create like a POST (AlreadyExists if taken) but create a missing namespace instead of failing."""
        with self.lock:
            return clone(self.insert(self._type_of(obj), obj, require_namespace=False))

    def put(self, obj: JsonObject) -> JsonObject:
        """Create or overwrite unconditionally (status included, resourceVersion ignored)."""
        rt = self._type_of(obj)
        meta = obj.get("metadata") or {}
        with self.lock:
            if self._objects[rt].get(self._key(rt, meta.get("namespace"), meta.get("name", ""))) is None:
                return clone(self.insert(rt, obj, require_namespace=False))
            return clone(self.replace(rt, obj, check_version=False))

    def delete(self, ref: ResourceRef, namespace: str | None, name: str) -> JsonObject | None:
        """Delete like a DELETE (finalizers honoured, namespaces cascade); None if it did not exist."""
        rt = self.catalog.resolve(ref)
        with self.lock:
            if self._objects[rt].get(self._key(rt, namespace, name)) is None:
                return None
            return clone(self.remove(rt, namespace, name))

    def mutate(
        self, ref: ResourceRef, namespace: str | None, name: str, change: Callable[[JsonObject], None]
    ) -> JsonObject:
        """Atomically apply `change` to a copy of the object and store it (a write: bumps resourceVersion)."""
        rt = self.catalog.resolve(ref)
        with self.lock:
            obj = clone(self.read(rt, namespace, name))
            change(obj)
            return clone(self.replace(rt, obj, check_version=False))

    # ---- registry semantics shared with the HTTP API: raise ApiError, return stored references ----

    def read(self, rt: ResourceType, namespace: str | None, name: str) -> JsonObject:
        with self.lock:
            obj = self._objects[rt].get(self._key(rt, namespace, name))
        if obj is None:
            raise not_found(rt, name)
        return obj

    def select(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        labels: Sequence[LabelRequirement] | None = None,
        fields: Sequence[FieldRequirement] | None = None,
    ) -> JsonList:
        """Objects of a type, in one namespace or all (None), sorted by namespace/name like etcd keys."""
        with self.lock:
            items = sorted(
                (key, obj) for key, obj in self._objects[rt].items() if namespace is None or key[0] == namespace
            )
        return [
            obj
            for _, obj in items
            if (labels is None or labels_match(labels, obj["metadata"].get("labels")))
            and (fields is None or fields_match(fields, obj))
        ]

    def insert(self, rt: ResourceType, obj: JsonObject, *, require_namespace: bool) -> JsonObject:
        obj = clone(obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        with self.lock:
            namespace = self._prepare_namespace(rt, meta, require_namespace)
            name = meta.get("name") or self._generate_name(rt, namespace, meta.get("generateName"))
            if not name:
                raise invalid(rt, "", "metadata.name", "Required value: name or generateName is required")
            if (namespace, name) in self._objects[rt]:
                raise already_exists(rt, name)
            for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(field, None)
            meta.update(
                name=name,
                uid=str(uuid.uuid4()),
                creationTimestamp=now_rfc3339(),
                resourceVersion=self._next_revision(),
            )
            if rt.tracks_generation:
                meta["generation"] = 1
            _apply_create_defaults(rt, obj)
            self._objects[rt][(namespace, name)] = obj
        return obj

    def replace(self, rt: ResourceType, obj: JsonObject, *, check_version: bool) -> JsonObject:
        """Store a new full version of an existing object, keeping server-managed metadata.

        With `check_version`, a `metadata.resourceVersion` in `obj` that differs from the stored one
        is a 409 Conflict (optimistic concurrency); without one the update is unconditional.
        """
        new = clone(obj)
        meta = new.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise bad_request("metadata.name is required")
        with self.lock:
            namespace = self._key(rt, meta.get("namespace"), meta["name"])[0]
            current = self.read(rt, namespace, meta["name"])
            current_meta = current["metadata"]
            if check_version and meta.get("resourceVersion") not in (
                None,
                "",
                current_meta["resourceVersion"],
            ):
                raise conflict(rt, meta["name"])
            if rt.plural in _IMMUTABLE_ROLE_REF and new.get("roleRef") != current.get("roleRef"):
                # As the real RBAC registry: pointing a binding elsewhere takes a delete and a create.
                raise invalid(
                    rt,
                    meta["name"],
                    "roleRef",
                    f"Invalid value: {json.dumps(new.get('roleRef'))}: cannot change roleRef",
                )
            for field in _IMMUTABLE_METADATA:
                if field in current_meta:
                    meta[field] = current_meta[field]
                else:
                    meta.pop(field, None)
            if rt.tracks_generation:
                changed = new.get("spec") != current.get("spec")
                meta["generation"] = current_meta.get("generation", 1) + (1 if changed else 0)
            if rt.namespaced:
                meta["namespace"] = namespace
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            meta["resourceVersion"] = self._next_revision()
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                del self._objects[rt][(namespace, meta["name"])]  # the last finalizer is gone: really delete
            else:
                self._objects[rt][(namespace, meta["name"])] = new
        return new

    def remove(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> JsonObject:
        """Delete (preconditions checked). Objects with finalizers only get a deletionTimestamp."""
        with self.lock:
            current = self.read(rt, namespace, name)
            meta = current["metadata"]
            for field, expected in (("UID", uid), ("ResourceVersion", resource_version)):
                actual = meta.get("uid" if field == "UID" else "resourceVersion")
                if expected and expected != actual:
                    raise conflict(
                        rt,
                        name,
                        f"Precondition failed: {field} in precondition: {expected}, {field} in object meta: {actual}",
                    )
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return current
                marked = clone(current)
                marked["metadata"].update(
                    deletionTimestamp=now_rfc3339(),
                    deletionGracePeriodSeconds=0,
                    resourceVersion=self._next_revision(),
                )
                self._objects[rt][self._key(rt, namespace, name)] = marked
                return marked
            del self._objects[rt][self._key(rt, namespace, name)]
            deleted = clone(current)
            deleted["metadata"]["resourceVersion"] = self._next_revision()
            if rt is self._namespaces:
                self._drop_namespace_contents(name)
                deleted["metadata"]["deletionTimestamp"] = now_rfc3339()
                deleted.setdefault("status", {})["phase"] = "Terminating"
        return deleted

    # ---- internals ----

    def _type_of(self, obj: JsonObject) -> ResourceType:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        rt = self.catalog.by_kind(api_version, kind)
        if rt is None:
            raise LookupError(f"the emulator does not serve {api_version}/{kind}")
        return rt

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> _Key:
        return (namespace or "default") if rt.namespaced else "", name

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _prepare_namespace(self, rt: ResourceType, meta: JsonObject, require_namespace: bool) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        namespace: str = meta.get("namespace") or "default"
        meta["namespace"] = namespace
        if ("", namespace) not in self._objects[self._namespaces]:
            if require_namespace:
                raise not_found(self._namespaces, namespace)
            self.insert(self._namespaces, {"metadata": {"name": namespace}}, require_namespace=False)
        return namespace

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str | None) -> str | None:
        if not prefix:
            return None
        while True:
            name = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
            if (namespace, name) not in self._objects[rt]:
                return name

    def _drop_namespace_contents(self, namespace: str) -> None:
        for rt, objects in self._objects.items():
            if rt.namespaced:
                for key in [key for key in objects if key[0] == namespace]:
                    del objects[key]
