"""Hand-made Kubernetes objects, complete enough for a real API server and the official client."""

from __future__ import annotations

from typing import Any

NODE = "node-1"


def node(
    name: str = NODE, *, provider_id: str | None = None, taints: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if provider_id:
        spec["providerID"] = provider_id
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def owner(kind: str, name: str, uid: str = "00000000-0000-0000-0000-000000000001") -> dict[str, Any]:
    api_version = "v1" if kind == "Node" else "apps/v1" if kind in ("DaemonSet", "ReplicaSet") else "batch/v1"
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}


def pod(
    name: str,
    *,
    node_name: str = NODE,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    owned_by: dict[str, Any] | None = None,
    phase: str = "Running",
    mirror: bool = False,
    grace: int | None = None,
    priority: int | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {"app": name}}
    if owned_by is not None:
        metadata["ownerReferences"] = [owned_by]
    if mirror:
        metadata["annotations"] = {"kubernetes.io/config.mirror": "abc123", "kubernetes.io/config.source": "file"}
    spec: dict[str, Any] = {"nodeName": node_name, "containers": [{"name": "app", "image": "app:1"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    if priority is not None:
        spec["priority"] = priority
    ready = "True" if phase == "Running" else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
    }


def replica_pods(app: str, count: int, *, node_name: str = NODE, namespace: str = "default") -> list[dict[str, Any]]:
    return [
        pod(
            f"{app}-{i}",
            node_name=node_name,
            namespace=namespace,
            labels={"app": app},
            owned_by=owner("ReplicaSet", f"{app}-rs"),
        )
        for i in range(count)
    ]


def pdb(name: str, app: str, *, min_available: int, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
    }
