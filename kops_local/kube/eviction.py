"""The pods/eviction subresource and the PodDisruptionBudget arithmetic behind it.

Mirrors kube-apiserver's EvictionREST (pkg/registry/core/pod/storage/eviction.go) and the disruption
controller's status computation (pkg/controller/disruption). There is no controller loop here: a
PDB's status is reconciled synchronously whenever it is read, written or consulted by an eviction,
so it is always current. Pods leave at once (grace periods are not simulated).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kops_local.kube.errors import ApiError, api_error, bad_request, success_status
from kops_local.kube.selectors import label_selector_from_object
from kops_local.kube.store import JsonObject, ObjectStore, clone, now_rfc3339

BUDGET_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_BUDGETS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
_SCALABLE_KINDS = {
    "Deployment": "apps/v1/deployments",
    "ReplicaSet": "apps/v1/replicasets",
    "StatefulSet": "apps/v1/statefulsets",
    "ReplicationController": "v1/replicationcontrollers",
}


def evict(store: ObjectStore, namespace: str, name: str, eviction: Any) -> JsonObject:
    """Handle POST .../pods/{name}/eviction; returns the 201 Success Status or raises ApiError."""
    if not isinstance(eviction, dict) or (eviction.get("metadata") or {}).get("name") != name:
        raise bad_request("name in URL does not match name in Eviction object")
    options = eviction.get("deleteOptions") or {}
    preconditions = options.get("preconditions") or {}
    pods = store.catalog.resolve("v1/pods")
    with store.lock:
        pod = store.read(pods, namespace, name)
        if not _can_ignore_budget(pod):
            _check_budget(store, pod)
        store.remove(
            pods,
            namespace,
            name,
            uid=preconditions.get("uid"),
            resource_version=preconditions.get("resourceVersion"),
        )
        for budget in matching_budgets(store, pod):
            reconcile_budget(store, budget)
    return success_status(201)


def _check_budget(store: ObjectStore, pod: JsonObject) -> None:
    budgets = matching_budgets(store, pod)
    if len(budgets) > 1:
        raise api_error(500, MULTIPLE_BUDGETS, reason="")  # the real API sends this Status without a reason
    if not budgets:
        return
    budget = budgets[0]
    status = reconcile_budget(store, budget)
    if not is_ready(pod):
        # An unready pod does not count as healthy, so evicting it costs no budget when the rest suffice.
        policy = budget.get("spec", {}).get("unhealthyPodEvictionPolicy")
        if policy == "AlwaysAllow" or 0 < status["desiredHealthy"] <= status["currentHealthy"]:
            return
    if status["disruptionsAllowed"] <= 0:
        raise _budget_violation(budget["metadata"]["name"], status)


def _budget_violation(budget_name: str, status: JsonObject) -> ApiError:
    cause = {
        "reason": "DisruptionBudget",
        "message": f"The disruption budget {budget_name} needs {status['desiredHealthy']} healthy pods "
        f"and has {status['currentHealthy']} currently",
    }
    return api_error(429, BUDGET_VIOLATION, details={"causes": [cause]})


def _can_ignore_budget(pod: JsonObject) -> bool:
    """Terminal, pending and already-terminating pods are deleted without consulting any budget."""
    phase = pod.get("status", {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def is_ready(pod: JsonObject) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_healthy(pod: JsonObject) -> bool:
    running = pod.get("status", {}).get("phase") == "Running"
    return running and is_ready(pod) and not pod["metadata"].get("deletionTimestamp")


def matching_budgets(store: ObjectStore, pod: JsonObject) -> list[JsonObject]:
    """PDBs in the pod's namespace whose selector matches it; nil or empty selectors match nothing."""
    budgets = store.select(store.catalog.resolve("policy/v1/poddisruptionbudgets"), pod["metadata"]["namespace"])
    labels = pod["metadata"].get("labels") or {}
    result = []
    for budget in budgets:
        selector = label_selector_from_object(budget.get("spec", {}).get("selector"))
        if selector and all(requirement.matches(labels) for requirement in selector):
            result.append(budget)
    return result


def reconcile_budget(store: ObjectStore, budget: JsonObject) -> JsonObject:
    """Recompute a PDB's status from the current pods (as the disruption controller would), store it if
    it changed, and return it."""
    with store.lock:
        pods = _selected_pods(store, budget)
        expected, desired = _expected_and_desired(store, budget, pods)
        healthy = sum(1 for pod in pods if is_healthy(pod))
        allowed = max(0, healthy - desired)
        current = budget.get("status") or {}
        status = {
            **current,
            "observedGeneration": budget["metadata"].get("generation", 1),
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
            "conditions": [_allowed_condition(current, allowed > 0, budget["metadata"].get("generation", 1))],
        }
        if status != current:
            updated = clone(budget)
            updated["status"] = status
            store.replace(store.catalog.resolve("policy/v1/poddisruptionbudgets"), updated, check_version=False)
    return status


def _selected_pods(store: ObjectStore, budget: JsonObject) -> list[JsonObject]:
    selector = label_selector_from_object(budget.get("spec", {}).get("selector"))
    if not selector:
        return []
    pods = store.catalog.resolve("v1/pods")
    return store.select(pods, budget["metadata"]["namespace"], selector)


def _allowed_condition(current: JsonObject, allowed: bool, generation: int) -> JsonObject:
    status = "True" if allowed else "False"
    previous = next((c for c in current.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
    since = previous["lastTransitionTime"] if previous and previous.get("status") == status else now_rfc3339()
    return {
        "type": "DisruptionAllowed",
        "status": status,
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def _expected_and_desired(store: ObjectStore, budget: JsonObject, pods: Sequence[JsonObject]) -> tuple[int, int]:
    """(expectedPods, desiredHealthy) as getExpectedPodCount computes them; percentages round up."""
    spec = budget.get("spec", {})
    name = budget["metadata"]["name"]
    if spec.get("maxUnavailable") is not None:
        expected = _expected_scale(store, pods)
        return expected, max(0, expected - _scaled(spec["maxUnavailable"], expected, name))
    min_available = spec.get("minAvailable")
    if isinstance(min_available, int):
        return len(pods), min_available
    if min_available is not None:
        expected = _expected_scale(store, pods)
        return expected, _scaled(min_available, expected, name)
    return len(pods), 0


def _scaled(value: Any, total: int, budget_name: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return math.ceil(int(value[:-1]) * total / 100)
    raise api_error(
        500,
        f"PodDisruptionBudget {budget_name} has an invalid value {value!r}: an int or a percentage string is expected",
    )


def _expected_scale(store: ObjectStore, pods: Sequence[JsonObject]) -> int:
    """Sum of the replicas of the pods' controllers. Unmanaged pods count nothing (as in the real
    controller); a pod whose controller is not in the store, or cannot scale, counts as one."""
    scales: dict[tuple[str, str], int] = {}
    orphans = 0
    for pod in pods:
        owner = _controller_of(pod)
        if owner is None:
            continue
        scale = _controller_scale(store, pod["metadata"]["namespace"], owner)
        if scale is None:
            orphans += 1
        else:
            scales[scale[0]] = scale[1]
    return sum(scales.values()) + orphans


def _controller_of(obj: JsonObject) -> JsonObject | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def _controller_scale(store: ObjectStore, namespace: str, owner: JsonObject) -> tuple[tuple[str, str], int] | None:
    ref = _SCALABLE_KINDS.get(owner.get("kind", ""))
    if ref is None:
        return None
    controller = store.get(ref, namespace, owner.get("name", ""))
    if controller is None:
        return None
    parent = _controller_of(controller)
    if owner["kind"] == "ReplicaSet" and parent is not None and parent.get("kind") == "Deployment":
        scaled = _controller_scale(store, namespace, parent)
        if scaled is not None:
            return scaled
    replicas = controller.get("spec", {}).get("replicas")
    return (owner["kind"], owner.get("name", "")), 1 if replicas is None else int(replicas)
