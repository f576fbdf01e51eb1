"""PATCH bodies: JSON merge patch, JSON patch, and an approximation of strategic merge patch.

Strategic merge patch (what kubectl and the official Python client send for dict bodies) is a merge
patch whose lists of objects merge by a key declared in the Go types (`patchMergeKey`). We know the
keys below, taken from the k8s.io/api struct tags; lists without one are replaced, as the real server
does (e.g. `spec.taints` and `spec.tolerations` carry no merge key). Supported directives:
`$patch: replace|delete` (maps and list items), `$deleteFromPrimitiveList/<field>`; `$setElementOrder/*`
and `$retainKeys` are accepted and ignored (element order is not preserved).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from kops_local.kube.errors import ApiError, api_error, bad_request

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# patchMergeKey by the field's path suffix (parent field, field) or (field,); more specific first.
_MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("ephemeralContainers", "ports"): "containerPort",
    ("spec", "ports"): "port",  # ServiceSpec
    ("containers",): "name",
    ("initContainers",): "name",
    ("ephemeralContainers",): "name",
    ("volumes",): "name",
    ("env",): "name",
    ("volumeMounts",): "mountPath",
    ("volumeDevices",): "devicePath",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("topologySpreadConstraints",): "topologyKey",
    ("conditions",): "type",  # pod, node, deployment, PDB... status conditions
    ("addresses",): "type",  # NodeStatus
    ("ownerReferences",): "uid",
}
# Lists of scalars with patchStrategy "merge": union instead of replacement.
_MERGED_SCALAR_LISTS = frozenset({("metadata", "finalizers")})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 through the `jsonpatch` package; a failing operation is a 422 like the real server."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a JSON array of operations")
    try:
        result = jsonpatch.apply_patch(target, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, TypeError) as exc:
        raise api_error(422, f"the server rejected our request due to an error in our request: {exc}") from exc
    if not isinstance(result, dict):
        raise api_error(422, "the patched document is not an object")
    return result


def strategic_merge_patch(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    return _merge_map(target, patch, ()) or {}


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request(f"{content_type} body must be a JSON object")
    if content_type == MERGE_PATCH:
        result: dict[str, Any] = merge_patch(target, patch)
        return result
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(target, patch)
    raise unsupported_patch_type(content_type)


def unsupported_patch_type(content_type: str) -> ApiError:
    return api_error(
        415,
        f"the body of the request was in an unknown format ({content_type or 'none'})"
        f" - accepted media types include: {', '.join(SUPPORTED)}",
    )


def _merge_key(path: tuple[str, ...]) -> str | None:
    return _MERGE_KEYS.get(path[-2:]) or _MERGE_KEYS.get(path[-1:])


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """Returns None when the patch deletes the whole map (`$patch: delete`)."""
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, path)
    result = dict(original)
    for key, value in patch.items():  # deletions from scalar lists apply before the merge
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, (*path, key))
        else:
            result[key] = value
    return result


def _merge_list(original: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    if path[-2:] in _MERGED_SCALAR_LISTS:
        return original + [item for item in patch if item not in original]
    key = _merge_key(path)
    if key is None:
        return [_merge_map({}, item, path) if isinstance(item, dict) else item for item in patch]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _merge_map({}, item, path) for item in patch if isinstance(item, dict) and item.get("$patch") != "replace"
        ]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(item)
            continue
        index = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        merged = _merge_map(result[index] if index is not None else {}, item, path)
        if index is None:
            if merged is not None:
                result.append(merged)
        elif merged is None:
            del result[index]
        else:
            result[index] = merged
    return result
