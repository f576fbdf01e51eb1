"""Builders for complete-enough objects: the official client validates required fields when it
deserialises (e.g. every nodeInfo field, every container's name), so seeds must carry them."""

from __future__ import annotations

from typing import Any

NODE_INFO_FIELDS = (
    "architecture",
    "bootID",
    "containerRuntimeVersion",
    "kernelVersion",
    "kubeProxyVersion",
    "kubeletVersion",
    "machineID",
    "operatingSystem",
    "osImage",
    "systemUUID",
)


def node(name: str, *, ready: bool = True, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {field: "v1.32.0" if field == "kubeletVersion" else "x" for field in NODE_INFO_FIELDS},
        },
    }


def owner(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod(
    name: str,
    namespace: str = "default",
    *,
    node_name: str | None = "node-1",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    ready: bool = True,
    owned_by: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owned_by is not None:
        metadata["ownerReferences"] = [owner(owned_by)]
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0, "image": "nginx", "imageID": ""}],
        },
    }


def pdb(
    name: str,
    labels: dict[str, str],
    namespace: str = "default",
    *,
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": labels}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def workload(
    kind: str, name: str, replicas: int, namespace: str = "default", owned_by: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Deployment/ReplicaSet/StatefulSet with just what the disruption arithmetic reads."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if owned_by is not None:
        metadata["ownerReferences"] = [owner(owned_by)]
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {
            **({} if kind == "DaemonSet" else {"replicas": replicas}),
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
