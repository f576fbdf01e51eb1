"""Throughput at the scale a Spot drain and a busy onboarding reach (bounds are generous on purpose:
they catch accidental quadratic behaviour, not machine speed)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client

from kops_onboard.local.kube import KubeApiEmulator
from tests.emulator import objects
from tests.emulator.conftest import stored


def test_five_hundred_pods_listed_and_evicted_in_parallel(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given 500 pods on one node across 5 namespaces, with a permissive PDB in each namespace
    for i in range(500):
        emulator.store.create(objects.pod(f"p{i}", f"ns{i % 5}", node_name="spot-1", labels={"app": "batch"}))
    for n in range(5):
        emulator.store.create(objects.pdb("batch", {"app": "batch"}, f"ns{n}", max_unavailable="100%"))
    started = time.monotonic()
    # When the node's pods are listed by field selector and all evicted from 16 threads
    pods = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=spot-1").items

    def evict(pod: client.V1Pod) -> None:
        meta = pod.metadata
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=meta.name, namespace=meta.namespace))
        core.create_namespaced_pod_eviction(meta.name, meta.namespace, body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(evict, pods))
    elapsed = time.monotonic() - started
    # Then all were listed and evicted within a few seconds
    assert len(pods) == 500
    assert emulator.store.list("Pod") == []
    assert elapsed < 8, f"500 evictions took {elapsed:.1f}s"


def test_a_thousand_small_patches(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a node
    emulator.store.create(objects.node("node-1"))
    started = time.monotonic()
    # When its labels are patched 1000 times
    for i in range(1000):
        core.patch_node("node-1", {"metadata": {"labels": {"step": str(i)}}})
    elapsed = time.monotonic() - started
    # Then every patch landed, within a few seconds
    assert stored(emulator, "Node", None, "node-1")["metadata"]["labels"]["step"] == "999"
    assert elapsed < 8, f"1000 patches took {elapsed:.1f}s"
