"""kubectl (the machine's, v1.32) as an unmodified third-party client of the emulator.

The emulator serves https here: kubectl sends a kubeconfig's bearer token only over TLS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kops_local.kube import KubeApiEmulator
from tests.emulator import objects
from tests.emulator.conftest import TOKEN, stored

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on the PATH"),
]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tls_emulator() -> Iterator[KubeApiEmulator]:
    with KubeApiEmulator(tokens=[TOKEN], tls=True, name="kind-test") as emulator:
        yield emulator


def kubectl_for(kubeconfig: Path, home: Path) -> Kubectl:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # HOME isolates kubectl's discovery cache (~/.kube/cache) from the user's and other tests'.
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
        return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60, check=False)

    return run


@pytest.fixture
def kubectl(tls_emulator: KubeApiEmulator, tmp_path: Path) -> Kubectl:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(tls_emulator.kubeconfig(token=TOKEN))
    return kubectl_for(kubeconfig, tmp_path)


@pytest.fixture
def node_with_workloads(tls_emulator: KubeApiEmulator) -> None:
    """node-1 runs a Deployment's pod (via its ReplicaSet), whose sibling runs on node-2, and a DaemonSet
    pod; a PDB (minAvailable 1) allows one disruption."""
    store = tls_emulator.store
    store.create(objects.node("node-1", labels={"node-role.kubernetes.io/spot-worker": ""}))
    store.create(objects.node("node-2"))
    deployment = store.create(objects.workload("Deployment", "web", 2))
    replica_set = store.create(objects.workload("ReplicaSet", "web-7d9", 2, owned_by=deployment))
    daemon_set = store.create(objects.workload("DaemonSet", "agent", 0, namespace="kube-system"))
    web_pod = objects.pod("web-7d9-a", node_name="node-1", labels={"app": "web"}, owned_by=replica_set)
    web_pod["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    store.create(web_pod)
    store.create(objects.pod("web-7d9-b", node_name="node-2", labels={"app": "web"}, owned_by=replica_set))
    store.create(objects.pod("agent-x", "kube-system", node_name="node-1", owned_by=daemon_set))
    store.create(objects.pdb("web", {"app": "web"}, min_available=1))


@pytest.mark.usefixtures("node_with_workloads")
def test_kubectl_get_nodes_prints_a_table(kubectl: Kubectl) -> None:
    # When kubectl lists nodes
    result = kubectl("get", "nodes")
    # Then it succeeds and prints the server-side table
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert lines[1][:3] == ["node-1", "Ready", "spot-worker"]
    assert lines[2][:3] == ["node-2", "Ready", "<none>"]


@pytest.mark.usefixtures("node_with_workloads")
def test_kubectl_get_pods_all_namespaces_as_json(kubectl: Kubectl) -> None:
    # When kubectl lists pods of all namespaces as JSON
    result = kubectl("get", "pods", "-A", "-o", "json")
    # Then the output parses and holds every pod
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in listed["items"]} == {
        ("default", "web-7d9-a"),
        ("default", "web-7d9-b"),
        ("kube-system", "agent-x"),
    }


@pytest.mark.usefixtures("node_with_workloads")
def test_kubectl_cordon_marks_the_node_unschedulable(tls_emulator: KubeApiEmulator, kubectl: Kubectl) -> None:
    # When kubectl cordons node-1
    result = kubectl("cordon", "node-1")
    # Then the node is unschedulable in the store, through a strategic merge patch
    assert result.returncode == 0, result.stderr
    assert stored(tls_emulator, "Node", None, "node-1")["spec"]["unschedulable"] is True
    patch = next(r for r in tls_emulator.requests if r.method == "PATCH")
    assert (patch.content_type, patch.body) == (
        "application/strategic-merge-patch+json",
        {"spec": {"unschedulable": True}},
    )


@pytest.mark.usefixtures("node_with_workloads")
def test_kubectl_drain_evicts_through_the_budget_and_keeps_daemonset_pods(
    tls_emulator: KubeApiEmulator, kubectl: Kubectl
) -> None:
    # When kubectl drains node-1
    result = kubectl("drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
    # Then it succeeds by evicting the Deployment's pod; the DaemonSet pod and the other node's pod stay
    assert result.returncode == 0, result.stderr
    pods = {p["metadata"]["name"] for p in tls_emulator.store.list("Pod")}
    assert pods == {"web-7d9-b", "agent-x"}
    assert stored(tls_emulator, "Node", None, "node-1")["spec"]["unschedulable"] is True
    evictions = [r for r in tls_emulator.requests if r.path.endswith("/eviction")]
    assert [(r.path, r.status) for r in evictions] == [("/api/v1/namespaces/default/pods/web-7d9-a/eviction", 201)]


def test_kubectl_with_a_wrong_token_is_refused(tls_emulator: KubeApiEmulator, tmp_path: Path) -> None:
    # Given a kubeconfig with a token the emulator does not accept
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(tls_emulator.kubeconfig(token="wrong"))
    # When kubectl is used
    result = kubectl_for(kubeconfig, tmp_path)("get", "nodes")
    # Then it is refused: the token really is checked
    assert result.returncode != 0
    assert "provide credentials" in result.stderr or "Unauthorized" in result.stderr
