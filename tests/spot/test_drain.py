"""Draining against a deadline, on the Kubernetes API server of `--kube` (evictions answer by PDB arithmetic)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.logic.spot.drain import drain_node, skip_reason
from kops_local.kube.served import ServedKubeApi
from tests.spot import objects
from tests.spot.objects import NODE


def evictions(kube: ServedKubeApi) -> list[Any]:
    return [r for r in kube.requests if r.method == "POST" and r.path.endswith("/eviction")]


def remaining(kube: ServedKubeApi) -> set[str]:
    """Pods staying on the node: an evicted pod is Terminating (deletionTimestamp set) until its grace period
    ends on a real server, and gone at once on the emulator; either way it is leaving."""
    on_node = kube.store.list("v1/pods", field_selector=f"spec.nodeName={NODE}")
    return {p["metadata"]["name"] for p in on_node if not p["metadata"].get("deletionTimestamp")}


@pytest.fixture
def node(kube: ServedKubeApi) -> str:
    """The node to drain, cordoned first as the service does (so replacements of evicted pods go elsewhere)."""
    kube.store.create(objects.node(unschedulable=True))
    return NODE


def test_skip_rules_follow_kubectl_drain() -> None:
    ds = objects.pod("ds", owned_by=objects.owner("DaemonSet", "net"))
    assert skip_reason(ds) == "daemonset"
    assert skip_reason(objects.pod("proxy", mirror=True)) == "mirror"
    assert skip_reason(objects.pod("static", owned_by=objects.owner("Node", NODE))) == "static"
    assert skip_reason(objects.pod("job", phase="Succeeded")) == "finished"
    assert skip_reason(objects.pod("crashed", phase="Failed")) == "finished"
    terminating = objects.pod("leaving")
    terminating["metadata"]["deletionTimestamp"] = "2026-11-25T10:00:00Z"
    assert skip_reason(terminating) == "terminating"
    assert skip_reason(objects.pod("bare")) is None
    assert skip_reason(objects.pod("web", owned_by=objects.owner("ReplicaSet", "web-rs"))) is None


def test_drain_evicts_what_can_move_with_one_list_and_one_eviction_per_pod(
    kube: ServedKubeApi, core: KubeClient, node: str
) -> None:
    # Given a node with app pods, a DaemonSet pod, a mirror pod and a finished pod
    objects.create_replica_set(kube.store, "web", 5)
    kube.store.create(objects.pod("net-x", owned_by=objects.create_owner(kube.store, "DaemonSet", "net")))
    kube.store.create(objects.pod("kube-proxy-node-1", namespace="kube-system", mirror=True))
    migrate = objects.create_owner(kube.store, "Job", "migrate")
    kube.store.create(objects.pod("migrate", phase="Succeeded", owned_by=migrate))
    kube.settle()
    kube.clear_requests()
    # When it is drained
    report = drain_node(core, node, deadline=time.time() + 10, concurrency=8)
    # Then the app pods are gone, the others stay, and the API saw 1 list + 5 evictions
    assert sorted(report.evicted) == [f"default/web-{i}" for i in range(5)]
    assert report.complete
    assert report.skipped == {"daemonset": 1, "mirror": 1, "finished": 1}
    assert remaining(kube) == {"net-x", "kube-proxy-node-1", "migrate"}
    assert [r.method for r in kube.requests].count("GET") == 1
    assert len(evictions(kube)) == 5 == report.eviction_requests
    assert all(r.body["apiVersion"] == "policy/v1" for r in evictions(kube))


def test_grace_periods_are_clamped_to_the_time_left(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    # Given a pod asking 300 s to stop, one asking 2 s, one with the default (30 s)
    kube.store.create(objects.pod("slow", grace=300))
    kube.store.create(objects.pod("quick", grace=2))
    kube.store.create(objects.pod("default"))
    kube.settle()
    kube.clear_requests()
    # When the drain has 8 s left
    drain_node(core, node, deadline=time.time() + 8.5, concurrency=4)
    # Then no pod gets more than the time left, and none more than it asked for
    grace = {r.path.split("/")[-2]: r.grace_period_seconds for r in evictions(kube)}
    assert grace["quick"] == 2
    assert 1 <= grace["slow"] <= 8
    assert 1 <= grace["default"] <= 8


def test_pdb_refusals_are_retried_until_the_deadline_then_reported(
    kube: ServedKubeApi, core: KubeClient, node: str
) -> None:
    # Given 3 pods of a set whose budget keeps 2 available, and 2 unprotected pods
    objects.create_replica_set(kube.store, "ledger", 3)
    kube.store.create(objects.pdb("ledger", "ledger", min_available=2))
    objects.create_replica_set(kube.store, "web", 2)
    kube.settle()
    kube.clear_requests()
    # When the node is drained with 2 s left
    deadline = time.time() + 2.0
    report = drain_node(core, node, deadline=deadline, concurrency=8)
    returned = time.time()
    # Then one ledger pod and both web pods left, the two others are reported with the budget as reason
    assert len([p for p in report.evicted if "ledger" in p]) == 1
    assert {"default/web-0", "default/web-1"} <= set(report.evicted)
    assert len(report.left) == 2
    assert set(report.left.values()) == {"disruption budget"}
    # And the refused ones were retried (with backoff, not in a hot loop), each refused again on its last try
    sent = evictions(kube)
    assert 7 <= len(sent) <= 40
    for pod in report.left:
        tries = [r.status for r in sent if r.path == f"/api/v1/namespaces/default/pods/{pod.split('/')[1]}/eviction"]
        assert len(tries) >= 2 and set(tries) == {429}, (pod, tries)
    # And the drain kept at it until the deadline, then stopped: every eviction it sent was answered before it
    # returned, none is still queued or in flight (how long it took past the deadline is the machine's business)
    assert returned >= deadline
    assert report.eviction_requests == len(sent) == len(evictions(kube))


def test_budget_bound_pods_do_not_starve_the_others(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    # Given 4 pods no eviction may touch, listed first, and 12 free pods, with 2 evictions in flight at most
    objects.create_replica_set(kube.store, "aaa-locked", 4)
    kube.store.create(objects.pdb("locked", "aaa-locked", min_available=4))
    objects.create_replica_set(kube.store, "web", 12)
    kube.settle()
    # When the node is drained with 3 s left
    started = time.time()
    report = drain_node(core, node, deadline=started + 3.0, concurrency=2)
    # Then every free pod left early: backing-off pods hold no worker
    assert len(report.evicted) == 12
    assert len(report.left) == 4
    assert max(time.time() - started, 0) >= 2.9


def test_concurrency_is_bounded(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    # Given 24 pods and a client that counts requests in flight (a real client, instrumented)
    objects.create_replica_set(kube.store, "web", 24)
    kube.settle()
    original = core.request
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def counting(*args: Any, **kwargs: Any) -> Any:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.02)
            return original(*args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    core.request = counting  # type: ignore[method-assign]
    # When it is drained with at most 4 evictions at once
    report = drain_node(core, node, deadline=time.time() + 10, concurrency=4)
    # Then all went, in parallel, never more than 4 at a time
    assert len(report.evicted) == 24
    assert 2 <= peak[0] <= 4


def test_lowest_priority_pods_leave_first(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    # Given pods of a critical class, of a class below the default and of none, one eviction at a time
    for name, value in (("critical", 1000000000), ("batch", -10)):
        kube.store.create(objects.priority_class(name, value))
    kube.store.create(objects.pod("critical", priority_class=("critical", 1000000000)))
    kube.store.create(objects.pod("batch", priority_class=("batch", -10)))
    kube.store.create(objects.pod("web"))
    kube.settle()
    kube.clear_requests()
    # When the node is drained
    drain_node(core, node, deadline=time.time() + 10, concurrency=1)
    # Then the lowest priority went first, the critical pod last
    assert [r.path.split("/")[-2] for r in evictions(kube)] == ["batch", "web", "critical"]


def test_server_errors_are_retried_and_missing_pods_are_not_left(
    kube: ServedKubeApi, core: KubeClient, node: str
) -> None:
    # Given a pod whose first two evictions meet 503, and one that vanished (404) before its eviction
    kube.store.create(objects.pod("flaky"))
    kube.store.create(objects.pod("ghost"))
    kube.inject_fault(method="POST", path_pattern="/pods/flaky/eviction$", status=503, times=2)
    kube.inject_fault(method="POST", path_pattern="/pods/ghost/eviction$", status=404)
    kube.settle()
    # When the node is drained
    report = drain_node(core, node, deadline=time.time() + 10, concurrency=4)
    # Then the flaky one was evicted on its third try and the vanished one is not reported as left
    assert report.evicted == ["default/flaky"]
    assert report.gone == ["default/ghost"]
    assert report.complete


@pytest.mark.parametrize("after_processing", [False, True], ids=["before", "after-processing"])
def test_connection_resets_of_evictions_are_retried_until_the_pod_is_out(
    kube: ServedKubeApi, core: KubeClient, node: str, after_processing: bool
) -> None:
    # Given a pod whose first two evictions have their connection reset, before the server handled them
    # or after (the eviction made, its answer lost)
    kube.store.create(objects.pod("reset"))
    kube.settle()
    kube.clear_requests()
    kube.inject_connection_reset(
        method="POST", path_pattern="/pods/reset/eviction$", times=2, after_processing=after_processing
    )
    # When the node is drained
    report = drain_node(core, node, deadline=time.time() + 10, concurrency=2)
    # Then the drain retried and completed, the pod out (evicted, or found gone once its eviction was made)
    assert report.complete, report
    assert "default/reset" in report.evicted + report.gone, report
    sent = evictions(kube)
    assert [r.reset for r in sent] == [True, True, False], [(r.status, r.reset) for r in sent]


def test_a_pod_under_two_budgets_is_reported_at_once(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    kube.store.create(objects.pod("web", labels={"app": "web"}))
    kube.store.create(objects.pdb("one", "web", min_available=0))
    kube.store.create(objects.pdb("two", "web", min_available=0))
    kube.settle()
    kube.clear_requests()
    report = drain_node(core, node, deadline=time.time() + 5, concurrency=2)
    # Reported at once: the server's 500 for two budgets is permanent, so the pod was tried once, not retried
    # until the deadline
    assert report.left == {"default/web": "more than one PodDisruptionBudget"}
    assert [r.status for r in evictions(kube)] == [500]
    assert report.eviction_requests == 1


def test_a_passed_deadline_evicts_nothing(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    kube.store.create(objects.pod("web"))
    kube.clear_requests()
    report = drain_node(core, node, deadline=time.time() - 1, concurrency=2)
    assert report.left == {"default/web": "not attempted before the deadline"}
    assert not evictions(kube)


def test_force_delete_is_an_opt_in_for_what_the_deadline_left(kube: ServedKubeApi, core: KubeClient, node: str) -> None:
    # Given a pod no eviction may touch
    kube.store.create(objects.pod("locked", labels={"app": "locked"}, grace=60))
    kube.store.create(objects.pdb("locked", "locked", min_available=1))
    kube.settle()
    # When the drain ends with force delete on, 10 s before the instance goes
    now = time.time()
    report = drain_node(core, node, deadline=now + 1, concurrency=2, force_delete=True, instance_gone_at=now + 11)
    # Then the pod was deleted (PDB bypassed) with a grace period that ends before the instance does: it is
    # leaving (Terminating on a real server until that grace period ends)
    assert report.force_deleted == ["default/locked"]
    assert report.complete
    (delete,) = [r for r in kube.requests if r.method == "DELETE"]
    assert delete.path == "/api/v1/namespaces/default/pods/locked"
    assert delete.grace_period_seconds is not None
    assert 0 <= delete.grace_period_seconds <= 10
    assert "locked" not in remaining(kube)
