"""Server-side printing: `meta.k8s.io/v1` Tables, which `kubectl get` asks for (`Accept: ...;as=Table`).

Pods, nodes, namespaces and PDBs get the columns kubectl users know; anything else gets Name and Age.
Each row carries the object's metadata (or the object with `includeObject=Object`) so kubectl can add
the NAMESPACE column for `-A`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kops_local.kube.catalog import ResourceType

JsonObject = dict[str, Any]
Column = tuple[str, str, int, Callable[[JsonObject], Any]]  # name, type, priority, cell


def human_age(timestamp: str | None, now: datetime | None = None) -> str:
    """Like apimachinery's duration.HumanDuration (the AGE column)."""
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - created).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def _name(obj: JsonObject) -> Any:
    return obj["metadata"]["name"]


def _age(obj: JsonObject) -> Any:
    return human_age(obj["metadata"].get("creationTimestamp"))


def _pod_ready(pod: JsonObject) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or []) or len(statuses)
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(pod: JsonObject) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _pod_restarts(pod: JsonObject) -> int:
    return sum(int(s.get("restartCount", 0)) for s in pod.get("status", {}).get("containerStatuses") or [])


def _node_status(node: JsonObject) -> str:
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    text = "Ready" if ready else "NotReady"
    return text + ",SchedulingDisabled" if node.get("spec", {}).get("unschedulable") else text


def _node_roles(node: JsonObject) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(key[len(prefix) :] for key in node["metadata"].get("labels") or {} if key.startswith(prefix))
    return ",".join(roles) or "<none>"


def _node_internal_ip(node: JsonObject) -> str:
    addresses = node.get("status", {}).get("addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "<none>")


def _spec(field: str) -> Callable[[JsonObject], Any]:
    return lambda obj: str(obj.get("spec", {}).get(field, "N/A"))


_COMMON: list[Column] = [("Name", "string", 0, _name)]
_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        *_COMMON,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _pod_restarts),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, lambda pod: pod.get("status", {}).get("podIP", "<none>")),
        ("Node", "string", 1, lambda pod: pod.get("spec", {}).get("nodeName", "<none>")),
    ],
    "Node": [
        *_COMMON,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, lambda n: n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")),
        ("Internal-IP", "string", 1, _node_internal_ip),
    ],
    "Namespace": [
        *_COMMON,
        ("Status", "string", 0, lambda ns: ns.get("status", {}).get("phase", "")),
        ("Age", "string", 0, _age),
    ],
    "PodDisruptionBudget": [
        *_COMMON,
        ("Min Available", "string", 0, _spec("minAvailable")),
        ("Max Unavailable", "string", 0, _spec("maxUnavailable")),
        ("Allowed Disruptions", "integer", 0, lambda pdb: pdb.get("status", {}).get("disruptionsAllowed", 0)),
        ("Age", "string", 0, _age),
    ],
}


def _row_object(obj: JsonObject, include_object: str) -> JsonObject | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(rt: ResourceType, objects: Sequence[JsonObject], *, include_object: str, resource_version: str) -> JsonObject:
    columns = _COLUMNS.get(rt.kind, [*_COMMON, ("Age", "string", 0, _age)])
    rows = []
    for obj in objects:
        row: JsonObject = {"cells": [cell(obj) for _, _, _, cell in columns]}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority, _ in columns
        ],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    """True when the Accept header asks for a meta.k8s.io Table (kubectl's human-readable output)."""
    return any("as=table" in media_range.replace(" ", "").lower() for media_range in accept.split(","))
