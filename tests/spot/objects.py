"""Hand-made Kubernetes objects, complete enough for a real API server and the official client.

On a real server an owner reference must name an object that exists (the garbage collector deletes pods
whose owner is missing), and a pod's priority comes from its PriorityClass (the Priority admission plugin
refuses a bare `spec.priority`): `create_owner`, `create_replica_set` and `priority_class` write them.
"""

from __future__ import annotations

from typing import Any

NODE = "node-1"


def node(
    name: str = NODE,
    *,
    provider_id: str | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"unschedulable": True} if unschedulable else {}
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
    priority_class: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """`priority_class`: (name, value) of an existing PriorityClass; the pod carries both, as admission
    writes them."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {"app": name}}
    if owned_by is not None:
        metadata["ownerReferences"] = [owned_by]
    if mirror:
        metadata["annotations"] = {"kubernetes.io/config.mirror": "abc123", "kubernetes.io/config.source": "file"}
    spec: dict[str, Any] = {"nodeName": node_name, "containers": [{"name": "app", "image": "app:1"}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    if priority_class is not None:
        spec["priorityClassName"], spec["priority"] = priority_class
    ready = "True" if phase == "Running" else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
    }


def _template(labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}], **spec}}


def create_owner(store: Any, kind: str, name: str, *, namespace: str = "default") -> dict[str, Any]:
    """A DaemonSet or a Job that exists (no controller of ours runs them), as the owner reference to it."""
    labels = {"app": name}
    body: dict[str, Any]
    if kind == "DaemonSet":
        spec = {"selector": {"matchLabels": labels}, "template": _template(labels)}
        body = {"apiVersion": "apps/v1", "kind": kind, "spec": spec}
    elif kind == "Job":
        body = {"apiVersion": "batch/v1", "kind": kind, "spec": {"template": _template(labels, restartPolicy="Never")}}
    else:
        raise ValueError(f"no owner of kind {kind!r} here")
    body["metadata"] = {"name": name, "namespace": namespace, "labels": labels}
    created = store.create(body)
    return owner(kind, name, created["metadata"]["uid"])


def create_replica_set(
    store: Any, app: str, count: int, *, node_name: str = NODE, namespace: str = "default"
) -> list[str]:
    """`count` Running pods `<app>-<i>` on the node, owned by a ReplicaSet of `count` replicas; returns their
    names. Pods first, the ReplicaSet after: a real replicaset controller adopts them instead of creating its
    own. It replaces evicted pods (on a schedulable node: none while the drained node is cordoned)."""
    names = [f"{app}-{i}" for i in range(count)]
    for name in names:
        store.create(pod(name, node_name=node_name, namespace=namespace, labels={"app": app}))
    labels = {"app": app}
    replica_set = store.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": f"{app}-rs", "namespace": namespace, "labels": labels},
            "spec": {"replicas": count, "selector": {"matchLabels": labels}, "template": _template(labels)},
        }
    )
    controller = owner("ReplicaSet", f"{app}-rs", replica_set["metadata"]["uid"])
    for name in names:
        store.mutate("v1/pods", namespace, name, lambda p: p["metadata"].update(ownerReferences=[controller]))
    return names


def priority_class(name: str, value: int) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value}


def pdb(name: str, app: str, *, min_available: int, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
    }
