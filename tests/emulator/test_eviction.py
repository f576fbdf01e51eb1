"""pods/eviction against PodDisruptionBudgets, as kube-apiserver's eviction subresource behaves."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator
from tests.emulator import objects

WEB = {"app": "web"}


def evict(core: client.CoreV1Api, name: str, namespace: str = "default", grace: int | None = None) -> int:
    """POST the eviction; returns the HTTP status (201, or the ApiException's)."""
    body = client.V1Eviction(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        delete_options=client.V1DeleteOptions(grace_period_seconds=grace) if grace is not None else None,
    )
    try:
        core.create_namespaced_pod_eviction(name, namespace, body)
    except ApiException as error:
        return int(error.status)
    return 201


def seed_web(emulator: KubeApiEmulator, count: int, owner: dict[str, Any] | None = None) -> list[str]:
    names = [f"web-{i}" for i in range(count)]
    for name in names:
        emulator.store.create(objects.pod(name, labels=WEB, owned_by=owner))
    return names


def pod_exists(emulator: KubeApiEmulator, name: str) -> bool:
    return emulator.store.get("Pod", "default", name) is not None


def test_eviction_without_budget_deletes_the_pod(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a running pod covered by no PDB
    seed_web(emulator, 1)
    # When it is evicted with a grace period
    status = evict(core, "web-0", grace=30)
    # Then the eviction is accepted, the pod is gone at once, and the grace period was recorded
    assert status == 201
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("web-0", "default")
    assert gone.value.status == 404
    assert emulator.requests[-2].path.endswith("/pods/web-0/eviction")
    assert emulator.requests[-2].grace_period_seconds == 30


def test_evicting_a_missing_pod_is_not_found(core: client.CoreV1Api) -> None:
    # When a pod that does not exist is evicted, then it is a 404
    assert evict(core, "ghost") == 404


def test_min_available_int_allows_then_blocks_with_the_real_status(
    emulator: KubeApiEmulator, core: client.CoreV1Api, policy: client.PolicyV1Api
) -> None:
    # Given 3 healthy pods and a PDB with minAvailable 2
    seed_web(emulator, 3)
    emulator.store.create(objects.pdb("web", WEB, min_available=2))
    # When two pods are evicted
    assert evict(core, "web-0") == 201
    with pytest.raises(ApiException) as blocked:
        core.create_namespaced_pod_eviction(
            "web-1",
            "default",
            client.V1Eviction(metadata=client.V1ObjectMeta(name="web-1", namespace="default")),
        )
    # Then the second is a 429 TooManyRequests with the real message and DisruptionBudget cause
    status = json.loads(blocked.value.body)
    assert blocked.value.status == 429
    assert status["reason"] == "TooManyRequests"
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget web needs 2 healthy pods and has 2 currently",
        }
    ]
    assert pod_exists(emulator, "web-1")
    # And the PDB status reflects the remaining pods
    pdb_status = policy.read_namespaced_pod_disruption_budget("web", "default").status
    assert (pdb_status.current_healthy, pdb_status.desired_healthy, pdb_status.expected_pods) == (2, 2, 2)
    assert pdb_status.disruptions_allowed == 0


def test_min_available_percentage_rounds_up_against_the_deployment_scale(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a Deployment of 3 replicas (via its ReplicaSet) with 3 healthy pods, and minAvailable 50%
    deployment = emulator.store.create(objects.workload("Deployment", "web", 3))
    replica_set = emulator.store.create(objects.workload("ReplicaSet", "web-7d9", 3, owned_by=deployment))
    seed_web(emulator, 3, owner=replica_set)
    emulator.store.create(objects.pdb("web", WEB, min_available="50%"))
    # When pods are evicted one by one
    results = [evict(core, name) for name in ("web-0", "web-1")]
    # Then 50% of 3 rounds up to 2 desired healthy: one eviction is allowed, the next is refused
    assert results == [201, 429]


@pytest.mark.parametrize(("max_unavailable", "allowed"), [(1, 1), ("34%", 2)])
def test_max_unavailable_int_and_percentage(
    emulator: KubeApiEmulator, core: client.CoreV1Api, max_unavailable: int | str, allowed: int
) -> None:
    # Given a ReplicaSet of 3 with 3 healthy pods and a maxUnavailable budget
    replica_set = emulator.store.create(objects.workload("ReplicaSet", "web-7d9", 3))
    names = seed_web(emulator, 3, owner=replica_set)
    emulator.store.create(objects.pdb("web", WEB, max_unavailable=max_unavailable))
    # When every pod is evicted in turn
    results = [evict(core, name) for name in names]
    # Then exactly `allowed` evictions pass (34% of 3 rounds up to 2), the rest get 429
    assert results == [201] * allowed + [429] * (3 - allowed)


def test_two_budgets_for_one_pod_is_an_internal_error(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a pod selected by two PDBs
    seed_web(emulator, 2)
    emulator.store.create(objects.pdb("one", WEB, min_available=0))
    emulator.store.create(objects.pdb("two", {"app": "web"}, max_unavailable=1))
    # When it is evicted
    with pytest.raises(ApiException) as error:
        core.create_namespaced_pod_eviction(
            "web-0",
            "default",
            client.V1Eviction(metadata=client.V1ObjectMeta(name="web-0", namespace="default")),
        )
    # Then the API refuses with 500 and the real message, and the pod stays
    assert error.value.status == 500
    assert json.loads(error.value.body)["message"] == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    )
    assert pod_exists(emulator, "web-0")


@pytest.mark.parametrize("phase", ["Pending", "Succeeded", "Failed"])
def test_non_running_pods_are_evicted_despite_the_budget(
    emulator: KubeApiEmulator, core: client.CoreV1Api, phase: str
) -> None:
    # Given a budget that allows no disruption and a pod that is not running
    seed_web(emulator, 1)
    emulator.store.create(objects.pod("finished", labels=WEB, phase=phase, ready=False))
    emulator.store.create(objects.pdb("web", WEB, min_available=1))
    # When both are evicted
    # Then the non-running pod goes without consulting the budget; the running one is protected
    assert evict(core, "finished") == 201
    assert evict(core, "web-0") == 429
    assert not pod_exists(emulator, "finished")


def test_unready_pod_is_evicted_when_the_healthy_ones_satisfy_the_budget(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given 2 healthy pods, 1 running-but-unready pod, and minAvailable 2 (no disruption left)
    seed_web(emulator, 2)
    emulator.store.create(objects.pod("unready", labels=WEB, ready=False))
    emulator.store.create(objects.pdb("web", WEB, min_available=2))
    # When the unready pod and then a healthy one are evicted
    # Then the unready one goes (it does not count as healthy) and the healthy one is protected
    assert [evict(core, "unready"), evict(core, "web-0")] == [201, 429]


def test_parallel_evictions_never_exceed_the_budget(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given 20 healthy pods and a budget that allows 5 disruptions
    names = seed_web(emulator, 20)
    emulator.store.create(objects.pdb("web", WEB, min_available=15))
    # When all 20 are evicted from 10 threads at once (as kubectl drain does)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda name: evict(core, name), names))
    # Then exactly 5 succeed and 15 stay
    assert sorted(results) == [201] * 5 + [429] * 15
    assert len(emulator.store.list("Pod", "default")) == 15
