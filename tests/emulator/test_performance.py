"""The scale a Spot drain and a busy onboarding reach, served with one request per operation and nothing
lost. How long it takes is a benchmark figure (`python -m bench.local`), not asserted here: a loaded CI
machine says nothing about the emulator."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client

from kops_local.kube import KubeApiEmulator
from tests.emulator import objects
from tests.emulator.conftest import stored


def test_five_hundred_pods_listed_and_evicted_in_parallel(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given 500 pods on one node across 5 namespaces, with a permissive PDB in each namespace
    for i in range(500):
        emulator.store.create(objects.pod(f"p{i}", f"ns{i % 5}", node_name="spot-1", labels={"app": "batch"}))
    for n in range(5):
        emulator.store.create(objects.pdb("batch", {"app": "batch"}, f"ns{n}", max_unavailable="100%"))
    emulator.clear_requests()
    # When the node's pods are listed by field selector and all evicted from 16 threads
    pods = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=spot-1").items

    def evict(pod: client.V1Pod) -> None:
        meta = pod.metadata
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=meta.name, namespace=meta.namespace))
        core.create_namespaced_pod_eviction(meta.name, meta.namespace, body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(evict, pods))
    # Then one list returned all 500, and each pod took exactly one eviction, granted at once (no 429 or 5xx
    # to retry), with nothing left behind
    assert len(pods) == 500
    assert emulator.store.list("Pod") == []
    answered = Counter((r.method, r.path.endswith("/eviction"), r.status) for r in emulator.requests)
    assert answered == {("GET", False, 200): 1, ("POST", True, 201): 500}
    evicted = Counter(r.path for r in emulator.requests if r.method == "POST")
    assert len(evicted) == 500 and set(evicted.values()) == {1}


def test_a_thousand_small_patches(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a node
    emulator.store.create(objects.node("node-1"))
    emulator.clear_requests()
    # When its labels are patched 1000 times
    versions = [
        int(core.patch_node("node-1", {"metadata": {"labels": {"step": str(i)}}}).metadata.resource_version)
        for i in range(1000)
    ]
    # Then every patch landed, one request each, each one a new version of the node
    assert stored(emulator, "Node", None, "node-1")["metadata"]["labels"]["step"] == "999"
    assert [(r.method, r.status) for r in emulator.requests] == [("PATCH", 200)] * 1000
    assert versions == sorted(set(versions))
