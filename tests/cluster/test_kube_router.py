"""The kube-router toleration fix: patched on kOps 1.17 only, existing tolerations kept."""

from typing import Any

from kops_lambda.logic.cluster.kube_router import ensure_kube_router_tolerations
from kops_local.kube import RecordedRequest

from .conftest import Cluster, MakeCluster

KUBE_ROUTER = ("apps/v1/daemonsets", "kube-system", "kube-router")
WIDE = [
    {"effect": "NoSchedule", "operator": "Exists"},
    {"effect": "NoExecute", "operator": "Exists"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
]


def tolerations(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.object(*KUBE_ROUTER)["spec"]["template"]["spec"]["tolerations"])


def test_kops_1_17_kube_router_gets_the_missing_wide_tolerations(make_cluster: MakeCluster) -> None:
    # Given kOps 1.17 with kube-router, whose DaemonSet tolerates only a few named taints
    cluster = make_cluster("kops=1.17,networking=kube-router")
    before = tolerations(cluster)
    # When the fix runs
    result, previous = ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    # Then the two missing wide tolerations are added after the existing ones (CriticalAddonsOnly was there)
    assert result.status == "patched"
    assert result.added_tolerations == WIDE[:2]
    assert tolerations(cluster) == before + WIDE[:2]
    assert previous == before
    # And the write carried the resourceVersion it read
    [patch] = cluster.writes()
    assert patch.method == "PATCH" and patch.body["metadata"]["resourceVersion"]

    # When it runs again
    cluster.kube.clear_requests()
    again, previous = ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    # Then nothing is written
    assert again.status == "already-tolerant" and previous is None
    assert cluster.writes() == []


def test_kops_1_21_kube_router_is_already_tolerant(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.21,networking=kube-router")
    result, _ = ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    assert result.status == "already-tolerant"
    assert cluster.writes() == []


def test_calico_is_not_applicable_and_not_even_read(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.17,networking=calico")
    result, _ = ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    assert result.status == "not-applicable"
    assert cluster.kube.requests == []


def test_unknown_networking_is_decided_by_the_daemonset(make_cluster: MakeCluster) -> None:
    # Given facts without networking (no state store): the DaemonSet's presence decides
    calico = make_cluster("kops=1.17,networking=calico")
    router = make_cluster("kops=1.17,networking=kube-router")
    assert ensure_kube_router_tolerations(calico.api, networking=None)[0].status == "not-applicable"
    assert ensure_kube_router_tolerations(router.api, networking=None)[0].status == "patched"


def test_a_concurrent_edit_is_retried_and_kept(make_cluster: MakeCluster) -> None:
    # Given someone adds a toleration between our read and our write
    cluster = make_cluster("kops=1.17,networking=kube-router")
    theirs = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    fired: list[bool] = []

    def other_writer(request: RecordedRequest) -> None:
        if request.method == "PATCH" and request.path.endswith("/daemonsets/kube-router") and not fired:
            fired.append(True)
            cluster.kube.store.mutate(
                *KUBE_ROUTER, lambda ds: ds["spec"]["template"]["spec"]["tolerations"].append(theirs)
            )

    cluster.kube.before_request(other_writer)
    # When the fix runs
    result, _ = ensure_kube_router_tolerations(cluster.api, networking="kuberouter")
    # Then the first write got 409, the retry kept their toleration and added ours
    assert [r.status for r in cluster.writes()] == [409, 200]
    assert result.status == "patched"
    final = tolerations(cluster)
    assert theirs in final
    assert all(w in final for w in WIDE)
