"""The emulator held to the real server: the same scripted requests against both, compared by status code and
by the fields the product reads. A script returns what it observed; each test asserts both backends observed
the same (and what that is, so a shared mistake cannot pass either).

Differences the real server showed and the emulator keeps by design are listed in the emulator's package
docstring (`kops_local.kube`); a script compares only what both must agree on.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kops_local.controlplane import RealKubeCluster, pinned_binaries
from kops_local.kube import KubeApiEmulator
from kops_local.kube.served import ServedKubeApi

TOKEN = "differential-token"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class Http:
    """Raw requests, so both backends are asked exactly the same bytes."""

    def __init__(self, kube: ServedKubeApi) -> None:
        self.kube = kube
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        self.session.verify = False  # the proxies serve plain http here; nothing to verify

    def __call__(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json", **params: str
    ) -> tuple[int, Any]:
        response = self.session.request(
            method,
            f"{self.kube.url}{path}",
            data=json.dumps(body) if body is not None else None,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            params=params,
            timeout=30,
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


Script = Callable[[Http], Any]


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Http]]:
    started: dict[str, ServedKubeApi] = {
        "emulator": KubeApiEmulator(tokens=[TOKEN], name="differential"),
        "real": RealKubeCluster(tokens=[TOKEN], name="differential"),
    }
    for kube in started.values():
        kube.start()
    yield {name: Http(kube) for name, kube in started.items()}
    for kube in started.values():
        kube.stop()


def on_both(backends: dict[str, Http], script: Script) -> Any:
    """Run the script on each backend; they must observe the same; return that observation."""
    observed = {name: script(http) for name, http in backends.items()}
    assert observed["emulator"] == observed["real"], json.dumps(observed, indent=2, default=str)
    return observed["real"]


def node(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": f"aws:///us-east-1a/{name}"},
    }


def pod(name: str, namespace: str, node_name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    }


def namespace(http: Http, name: str) -> None:
    status, _ = http("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status in (201, 409)


def test_crud_and_optimistic_concurrency(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        namespace(http, "crud")
        path = "/api/v1/namespaces/crud/configmaps"
        body = {"metadata": {"name": "settings"}, "data": {"a": "1"}}
        created, obj = http("POST", path, body)
        again, conflict = http("POST", path, body)
        read, current = http("GET", f"{path}/settings")
        stale = current["metadata"] | {"resourceVersion": str(int(current["metadata"]["resourceVersion"]) - 1)}
        stale_update, stale_status = http("PUT", f"{path}/settings", current | {"metadata": stale, "data": {"a": "2"}})
        fresh_update, updated = http("PUT", f"{path}/settings", current | {"data": {"a": "3"}})
        deleted, _ = http("DELETE", f"{path}/settings")
        gone, missing = http("GET", f"{path}/settings")
        return {
            "create": (created, obj["data"], bool(obj["metadata"]["uid"])),
            "create again": (again, conflict["reason"]),
            "read": (read, current["data"]),
            "stale update": (stale_update, stale_status["reason"]),
            "update": (fresh_update, updated["data"]),
            "delete then get": (deleted, gone, missing["reason"]),
        }

    assert on_both(backends, script) == {
        "create": (201, {"a": "1"}, True),
        "create again": (409, "AlreadyExists"),
        "read": (200, {"a": "1"}),
        "stale update": (409, "Conflict"),
        "update": (200, {"a": "3"}),
        "delete then get": (200, 404, "NotFound"),
    }


def test_patch_flavours_the_product_sends(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        http("POST", "/api/v1/nodes", node("patched"))
        path = "/api/v1/nodes/patched"
        taint = {"key": "kops-onboard.io/spot-interruption", "value": "e-1", "effect": "NoSchedule"}
        _, before = http("GET", path)
        # Merge patch as the Spot handler sends it: the read resourceVersion makes it conditional
        rv = before["metadata"]["resourceVersion"]
        merge = {
            "metadata": {"resourceVersion": rv, "labels": {"x": "y"}},
            "spec": {"unschedulable": True, "taints": [taint]},
        }
        merged, after = http("PATCH", path, merge, content_type=MERGE)
        stale, stale_status = http("PATCH", path, merge, content_type=MERGE)
        ours = [t for t in after["spec"].get("taints", []) if t["key"] == taint["key"]]
        # Strategic merge patch on a DaemonSet's tolerations (kube-router's fix) replaces by patch semantics
        namespace(http, "kube-system")
        daemonset = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-router", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "kube-router"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-router"}},
                    "spec": {
                        "containers": [
                            {"name": "kube-router", "image": "docker.io/cloudnativelabs/kube-router:v1.0.1"}
                        ],
                        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    },
                },
            },
        }
        http("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", daemonset)
        strategic = {"spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}]}}}}
        sm_status, patched = http(
            "PATCH", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-router", strategic, content_type=STRATEGIC
        )
        json_status, json_patched = http(
            "PATCH", path, [{"op": "replace", "path": "/metadata/labels/x", "value": "z"}], content_type=JSON_PATCH
        )
        return {
            "merge": (merged, after["spec"]["unschedulable"], ours, after["metadata"]["labels"]["x"]),
            "stale merge": (stale, stale_status["reason"]),
            "strategic": (sm_status, patched["spec"]["template"]["spec"]["tolerations"]),
            "json patch": (json_status, json_patched["metadata"]["labels"]["x"]),
        }

    observed = on_both(backends, script)
    assert observed["merge"][0] == 200 and observed["stale merge"] == (409, "Conflict")
    assert observed["strategic"] == (200, [{"operator": "Exists"}])


def test_label_and_field_selectors(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        namespace(http, "selectors")
        http("POST", "/api/v1/nodes", node("sel-a"))
        http("POST", "/api/v1/nodes", node("sel-b"))
        for name, node_name, labels in (
            ("web-1", "sel-a", {"app": "web", "tier": "front"}),
            ("web-2", "sel-b", {"app": "web"}),
            ("db-1", "sel-a", {"app": "db"}),
        ):
            http("POST", "/api/v1/namespaces/selectors/pods", pod(name, "selectors", node_name, **labels))

        def names(**params: str) -> list[str]:
            status, listed = http("GET", "/api/v1/namespaces/selectors/pods", **params)
            assert status == 200
            return sorted(p["metadata"]["name"] for p in listed["items"])

        return {
            "app=web": names(labelSelector="app=web"),
            "app in (web,db),!tier": names(labelSelector="app in (web,db),!tier"),
            "app!=web": names(labelSelector="app!=web"),
            "on sel-a": names(fieldSelector="spec.nodeName=sel-a"),
            "on sel-a, not db": names(fieldSelector="spec.nodeName=sel-a", labelSelector="app!=db"),
            "all namespaces by node": sorted(
                p["metadata"]["name"]
                for p in http("GET", "/api/v1/pods", fieldSelector="spec.nodeName=sel-b")[1]["items"]
            ),
        }

    assert on_both(backends, script) == {
        "app=web": ["web-1", "web-2"],
        "app in (web,db),!tier": ["db-1", "web-2"],
        "app!=web": ["db-1"],
        "on sel-a": ["db-1", "web-1"],
        "on sel-a, not db": ["web-1"],
        "all namespaces by node": ["web-2"],
    }


def ready_pod(http: Http, name: str, namespace: str, node_name: str, **labels: str) -> None:
    """A bound pod reported Running and Ready, as a kubelet would (PDBs count only Ready pods)."""
    http("POST", f"/api/v1/namespaces/{namespace}/pods", pod(name, namespace, node_name, **labels))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("Ready", "ContainersReady")]
    status = {"phase": "Running", "conditions": conditions, "startTime": now}
    status["containerStatuses"] = [
        {
            "name": "app",
            "image": "registry.k8s.io/pause:3.10",
            "imageID": "",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }
    ]
    code, _ = http(
        "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status", {"status": status}, content_type=MERGE
    )
    assert code == 200


def wait_for_budget(http: Http, path: str, allowed: int) -> None:
    """The disruption controller observes a new PDB asynchronously on a real server (the emulator: at once).
    The deadline is a hang guard, generous for a loaded machine."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _, budget = http("GET", path)
        status = budget.get("status", {})
        observed = status.get("observedGeneration") == budget["metadata"].get("generation")
        if (observed and status.get("disruptionsAllowed") == allowed) or isinstance(http.kube, KubeApiEmulator):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never allowed {allowed} disruptions: {budget.get('status')}")


def test_eviction_answers_201_within_the_budget_and_429_beyond_it(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        namespace(http, "evict")
        http("POST", "/api/v1/nodes", node("evict-node"))
        for index in range(3):
            ready_pod(http, f"ledger-{index}", "evict", "evict-node", app="ledger")
        budget = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "ledger", "namespace": "evict"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "ledger"}}},
        }
        http("POST", "/apis/policy/v1/namespaces/evict/poddisruptionbudgets", budget)
        wait_for_budget(http, "/apis/policy/v1/namespaces/evict/poddisruptionbudgets/ledger", allowed=1)

        def evict(name: str) -> tuple[int, str]:
            eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "evict"}}
            code, body = http("POST", f"/api/v1/namespaces/evict/pods/{name}/eviction", eviction)
            return code, body.get("reason", "") if isinstance(body, dict) else ""

        first, second = evict("ledger-0"), evict("ledger-1")
        missing = evict("no-such-pod")
        _, evicted = http("GET", "/api/v1/namespaces/evict/pods/ledger-0")
        leaving = evicted.get("metadata", {}).get("deletionTimestamp") is not None or evicted.get("code") == 404
        return {"first": first, "second": second, "missing": missing, "first pod leaving": leaving}

    assert on_both(backends, script) == {
        "first": (201, ""),
        "second": (429, "TooManyRequests"),
        "missing": (404, "NotFound"),
        "first pod leaving": True,
    }


def test_discovery_serves_what_kubectl_and_the_client_look_up(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        _, core = http("GET", "/api/v1")
        core_resources = {r["name"] for r in core["resources"]}
        _, groups = http("GET", "/apis")
        group_names = {g["name"] for g in groups["groups"]}
        _, policy = http("GET", "/apis/policy/v1")
        eviction = next(r for r in core["resources"] if r["name"] == "pods/eviction")
        _, versions = http("GET", "/api")
        return {
            "core": sorted(
                core_resources
                & {
                    "pods",
                    "pods/eviction",
                    "pods/status",
                    "nodes",
                    "nodes/status",
                    "events",
                    "configmaps",
                    "secrets",
                    "namespaces",
                    "serviceaccounts",
                }
            ),
            "eviction kind": (eviction["kind"], eviction.get("group"), eviction.get("version")),
            "groups": sorted(
                group_names & {"apps", "policy", "rbac.authorization.k8s.io", "batch", "coordination.k8s.io"}
            ),
            "policy": sorted(r["name"] for r in policy["resources"] if r["name"].startswith("poddisruptionbudgets")),
            "api versions": versions["versions"],
        }

    observed = on_both(backends, script)
    assert observed["eviction kind"] == ("Eviction", "policy", "v1")
    assert "pods/eviction" in observed["core"]


def test_events_are_created_in_any_namespace(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "spot-node.", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "spot-node", "apiVersion": "v1"},
            "reason": "SpotInterruption",
            "message": "differential",
            "type": "Normal",
            "source": {"component": "kops-onboard"},
        }
        code, created = http("POST", "/api/v1/namespaces/default/events", event)
        _, listed = http("GET", "/api/v1/namespaces/default/events", fieldSelector="involvedObject.name=spot-node")
        return {
            "create": (code, created["metadata"]["name"].startswith("spot-node.")),
            "listed": [(e["reason"], e["message"]) for e in listed["items"]],
        }

    assert on_both(backends, script) == {"create": (201, True), "listed": [("SpotInterruption", "differential")]}


@pytest.fixture(scope="module")
def kubectl_backends() -> Iterator[dict[str, tuple[ServedKubeApi, Path]]]:
    """Both backends over https (kubectl sends tokens only over TLS), with a kubeconfig each."""
    with tempfile.TemporaryDirectory() as directory:
        started: dict[str, tuple[ServedKubeApi, Path]] = {}
        for name, kube in (
            ("emulator", KubeApiEmulator(tokens=[TOKEN], name="kubectl-diff", tls=True)),
            ("real", RealKubeCluster(tokens=[TOKEN], name="kubectl-diff", tls=True)),
        ):
            kube.start()
            path = Path(directory, f"{name}.kubeconfig")
            path.write_text(kube.kubeconfig(TOKEN))
            started[name] = (kube, path)
        yield started
        for kube, _ in started.values():
            kube.stop()


def test_kubectl_get_cordon_and_drain_behave_alike(kubectl_backends: dict[str, tuple[ServedKubeApi, Path]]) -> None:
    binary = str(pinned_binaries().path("kubectl"))
    observed = {}
    for name, (kube, kubeconfig) in kubectl_backends.items():
        with tempfile.TemporaryDirectory() as home:

            def kubectl(*args: str, kubeconfig: Path = kubeconfig, home: str = home) -> tuple[int, str]:
                env = {"HOME": home, "KUBECONFIG": str(kubeconfig)}
                done = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=90, check=False)
                return done.returncode, done.stdout

            kube.store.create(node("kubectl-node"))
            kube.store.create(pod("app-1", "default", "kubectl-node", app="web"))
            kube.store.create(pod("app-2", "default", "kubectl-node", app="web"))
            got, nodes = kubectl("get", "nodes", "-o", "name")
            cordoned, _ = kubectl("cordon", "kubectl-node")
            unschedulable = kube.store.get("v1/nodes", None, "kubectl-node")["spec"].get("unschedulable")
            drained, _ = kubectl(
                "drain", "kubectl-node", "--ignore-daemonsets", "--force", "--grace-period=1", "--timeout=60s"
            )
            left = [
                p["metadata"]["name"] for p in kube.store.list("v1/pods", field_selector="spec.nodeName=kubectl-node")
            ]
            observed[name] = {
                "get": (got, nodes.split()),
                "cordon": (cordoned, unschedulable),
                "drain": (drained, left),
            }
    assert observed["emulator"] == observed["real"], observed
    assert observed["real"] == {
        "get": (0, ["node/kubectl-node"]),
        "cordon": (0, True),
        "drain": (0, []),  # kubectl drain waits until the evicted pods are gone
    }


def test_a_bindings_role_ref_cannot_change(backends: dict[str, Http]) -> None:
    def script(http: Http) -> Any:
        path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "differential-binding"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "differential"}],
        }
        created, _ = http("POST", path, binding)
        _, current = http("GET", f"{path}/differential-binding")
        current["roleRef"]["name"] = "cluster-admin"
        changed, refusal = http("PUT", f"{path}/differential-binding", current)
        subjects = current | {
            "roleRef": binding["roleRef"],
            "subjects": [*binding["subjects"], binding["subjects"][0] | {"name": "more"}],
        }
        updated, _ = http("PUT", f"{path}/differential-binding", subjects)
        return {"create": created, "change roleRef": (changed, refusal["reason"]), "change subjects": updated}

    assert on_both(backends, script) == {"create": 201, "change roleRef": (422, "Invalid"), "change subjects": 200}
