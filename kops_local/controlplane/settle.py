"""`settle`: wait until the controllers have caught up with what was just written, as they long have on a real
cluster by the time anything (a Spot interruption, an offboarding) acts on it.

Settled means, for every object of the cluster:
- a PodDisruptionBudget is observed by the disruption controller (`status.observedGeneration` is its
  generation) and its `currentHealthy` counts the Ready, not terminating pods it selects: until then the
  eviction subresource answers 429 for every pod it covers, whatever the arithmetic says;
- a ReplicaSet is synced by its controller (observed generation, `status.replicas` as specified), so it
  neither creates nor deletes pods behind the test's back;
- a Deployment is observed by its controller;
- a pod that is neither finished nor terminating is bound to a node and no longer Pending (the kubelet
  stand-in's part);
- a node has conditions, and a Ready one no longer carries admission's `node.kubernetes.io/not-ready` taint
  (the kubelet stand-in's two writes to a new node, each changing its resourceVersion).

The emulator has no controllers: there is nothing to wait for (`ServedKubeApi.settle` does nothing).
"""

from __future__ import annotations

import time
from typing import Any

from kops_local.controlplane.objects import ApiObjectStore

JsonObject = dict[str, Any]
SETTLE_SECONDS = 30.0
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
_POLL_SECONDS = 0.1


class NotSettled(TimeoutError):
    """The controllers did not catch up in time; the message lists what still lagged."""


def _selects(selector: JsonObject, labels: dict[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _ready(pod: JsonObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _terminating(obj: JsonObject) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _observed(obj: JsonObject) -> bool:
    observed: object = (obj.get("status") or {}).get("observedGeneration")
    generation: object = obj["metadata"].get("generation")
    return observed == generation


def _name(obj: JsonObject) -> str:
    meta = obj["metadata"]
    return f"{obj.get('kind', 'object')} {meta.get('namespace', '')}/{meta['name']}"


def lagging(store: ApiObjectStore) -> list[str]:
    """What the controllers (or the kubelet stand-in) have not caught up with yet; empty once settled."""
    behind: list[str] = []
    pods = store.list("v1/pods")
    for budget in store.list("policy/v1/poddisruptionbudgets"):
        if not _observed(budget):
            behind.append(f"{_name(budget)}: not observed by the disruption controller")
            continue
        namespace, selector = budget["metadata"]["namespace"], budget["spec"].get("selector") or {}
        healthy = sum(
            1
            for pod in pods
            if pod["metadata"]["namespace"] == namespace
            and _selects(selector, pod["metadata"].get("labels") or {})
            and _ready(pod)
            and not _terminating(pod)
        )
        counted = (budget.get("status") or {}).get("currentHealthy")
        if counted != healthy:
            behind.append(f"{_name(budget)}: counts {counted} healthy pods, {healthy} are")
    for replicaset in store.list("apps/v1/replicasets"):
        status = replicaset.get("status") or {}
        if not _observed(replicaset) or status.get("replicas", 0) != replicaset["spec"].get("replicas", 1):
            behind.append(f"{_name(replicaset)}: not synced by its controller")
    for deployment in store.list("apps/v1/deployments"):
        if not _observed(deployment):
            behind.append(f"{_name(deployment)}: not observed by its controller")
    for node in store.list("v1/nodes"):
        # A new node carries admission's not-ready taint until the kubelet stand-in marks it Ready and lifts
        # the taint: two writes that race any other writer of the node (its resourceVersion changes).
        if not (node.get("status") or {}).get("conditions"):
            behind.append(f"{_name(node)}: no conditions yet from the kubelet stand-in")
        elif _ready(node) and any(t.get("key") == NOT_READY_TAINT for t in node["spec"].get("taints") or []):
            behind.append(f"{_name(node)}: Ready but still tainted {NOT_READY_TAINT}")
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if _terminating(pod) or phase in ("Succeeded", "Failed"):
            continue
        if not pod["spec"].get("nodeName") or phase == "Pending":
            behind.append(f"{_name(pod)}: {phase}, not started by the kubelet stand-in")
    return behind


def settle(store: ApiObjectStore, *, timeout: float = SETTLE_SECONDS) -> float:
    """Wait (bounded) until nothing lags; returns the seconds it took, raises `NotSettled` after `timeout`."""
    started = time.monotonic()
    while True:
        behind = lagging(store)
        if not behind:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise NotSettled(f"not settled after {timeout:.0f} s: " + "; ".join(behind[:10]))
        time.sleep(_POLL_SECONDS)
