"""Create-or-update of the objects we own, idempotently, without fighting the API server's defaults.

"Unchanged" means every field we set is present with our value (the server may add defaults, other
labels and annotations, and controllers may add fields such as the memory requests the agent's
autoscaler sets): a rerun then makes GET requests only. Otherwise we PUT the object as read with our
fields replaced and our labels merged in, carrying the resourceVersion we read: a concurrent writer
makes it a 409 and we read again (bounded). Immutable `roleRef` of a binding that differs is the one
case handled by delete (with the read resourceVersion as precondition) and create.
"""

import copy
from dataclasses import dataclass
from typing import Any

from kops_lambda.errors import RetryableError
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, JsonObject, KubeRest, kind_of
from kops_lambda.models.cluster import ObjectStatus, ObjectStatusValue

_NOT_OWNED = frozenset({"apiVersion", "kind", "metadata", "status"})
_IMMUTABLE = {"ClusterRoleBinding": ("roleRef",), "RoleBinding": ("roleRef",)}


def contains(actual: Any, desired: Any) -> bool:
    """Every value in `desired` is in `actual` (maps: by key, lists: same length, item by item)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return False
        return all(
            (key in actual and contains(actual[key], value)) or (key not in actual and value in ({}, []))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


def owned_view(obj: JsonObject) -> JsonObject:
    """The part of an object we own: every top-level field we set, plus our labels and annotations."""
    meta = obj.get("metadata", {})
    view: JsonObject = {key: value for key, value in obj.items() if key not in _NOT_OWNED}
    view["metadata"] = {key: meta[key] for key in ("labels", "annotations") if key in meta}
    return view


def object_action(current: JsonObject | None, desired: JsonObject) -> ObjectStatusValue:
    """What converging `desired` would do to the object as read (None: absent); the write decision's rule."""
    if current is None:
        return "created"
    return "unchanged" if contains(owned_view(current), owned_view(desired)) else "updated"


def changed_fields(current: JsonObject, desired: JsonObject) -> list[str]:
    """The owned fields (top level, and our labels/annotations) whose value we would replace."""
    have, want = owned_view(current), owned_view(desired)
    fields = [key for key in want if key != "metadata" and not contains(have.get(key), want[key])]
    for key in ("labels", "annotations"):
        wanted = want["metadata"].get(key) or {}
        present = have["metadata"].get(key) or {}
        fields += [f"metadata.{key}.{k}" for k, v in wanted.items() if present.get(k) != v]
    return fields


@dataclass(frozen=True)
class Converged:
    status: ObjectStatus
    previous: JsonObject | None  # as read before our write (None: it did not exist)
    written: JsonObject | None  # as the server stored our write (None: nothing written)


def ensure_object(rest: KubeRest, desired: JsonObject) -> ObjectStatus:
    return converge_object(rest, desired).status


def converge_object(rest: KubeRest, desired: JsonObject) -> Converged:
    """ensure_object, also returning the object before and after, for callers that back it up."""
    kind = kind_of(desired)
    meta = desired["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    path = kind.object_path(namespace, name)
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = rest.get(path)
        try:
            status, written = _converge(rest, desired, current, path, kind.collection_path(namespace))
        except Conflict:
            continue
        return Converged(ObjectStatus(kind=kind.kind, name=name, namespace=namespace, status=status), current, written)
    raise RetryableError(
        f"{kind.kind} {namespace + '/' if namespace else ''}{name}: "
        f"still conflicting after {MAX_WRITE_ATTEMPTS} attempts"
    )


def ensure_objects(rest: KubeRest, objects: list[JsonObject]) -> list[ObjectStatus]:
    """In order (a namespace before what lives in it, a role before its binding)."""
    return [ensure_object(rest, obj) for obj in objects]


def _converge(
    rest: KubeRest, desired: JsonObject, current: JsonObject | None, path: str, collection: str
) -> tuple[ObjectStatusValue, JsonObject | None]:
    action = object_action(current, desired)
    if current is None:
        return action, rest.create(collection, desired)
    if action == "unchanged":
        return action, None
    immutable = _IMMUTABLE.get(desired["kind"], ())
    if any(not contains(current.get(field), desired[field]) for field in immutable):
        rest.delete(path, resource_version=current["metadata"]["resourceVersion"])
        return "updated", rest.create(collection, desired)
    return "updated", rest.replace(path, _updated(current, desired))


def _updated(current: JsonObject, desired: JsonObject) -> JsonObject:
    body = copy.deepcopy(current)
    meta = body.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        if key in desired["metadata"]:
            meta[key] = {**(meta.get(key) or {}), **desired["metadata"][key]}
    for key, value in desired.items():
        if key not in _NOT_OWNED:
            body[key] = copy.deepcopy(value)
    return body
