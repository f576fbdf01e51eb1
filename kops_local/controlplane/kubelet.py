"""The node side that a control plane without kubelets lacks, played by one loop per cluster.

What it does, as kubelets and the scheduler would:
- binds a new pod (no `spec.nodeName`) to the schedulable Ready node carrying the fewest pods, so a
  Deployment's evicted pods come back elsewhere (a bound pod keeps its node);
- marks a bound Pending pod Running and Ready through the status subresource, unless someone wrote
  its container statuses already (PDBs only count Ready pods; seeded pods carry their own status);
- finishes a graceful deletion once the pod's `deletionTimestamp` has passed (a kubelet's final delete
  with grace 0; real containers usually stop sooner, never later);
- marks a node without conditions Ready (nodes seeded with conditions keep them), and lifts the
  `node.kubernetes.io/not-ready` taint that admission puts on every new node once it is Ready, as the
  node-lifecycle controller would (that controller is off: it would evict pods of kubelet-less nodes).

It talks to the API server directly (not through a test proxy), so test journals see only the
product's requests. Every call is bounded; errors of one pass are logged and retried on the next.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from kops_local.controlplane.objects import ApiObjectStore
from kops_local.controlplane.settle import NOT_READY_TAINT
from kops_local.kube.errors import ApiError

logger = logging.getLogger(__name__)

_PASS_SECONDS = 0.2
_STOP_SECONDS = 15.0  # longer than one request of the admin transport (10 s)
_NO_SCHEDULE = ("NoSchedule", "NoExecute")
_NOT_READY_TAINT = NOT_READY_TAINT
_MERGE_PATCH = "application/merge-patch+json"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _tolerates(pod: dict[str, Any], taint: dict[str, Any]) -> bool:
    for toleration in pod["spec"].get("tolerations") or []:
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", taint.get("key")):
            return True
        if toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _schedulable(node: dict[str, Any], pod: dict[str, Any]) -> bool:
    if node["spec"].get("unschedulable") or not _ready(node):
        return False
    taints = [t for t in node["spec"].get("taints") or [] if t.get("effect") in _NO_SCHEDULE]
    if not all(_tolerates(pod, t) for t in taints):
        return False
    selector = pod["spec"].get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def running_status(pod: dict[str, Any], now: str) -> dict[str, Any]:
    containers = pod["spec"].get("containers") or []
    return {
        "phase": "Running",
        "startTime": now,
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


class KubeletStandIn:
    def __init__(self, objects: ApiObjectStore, *, name: str) -> None:
        self._objects = objects  # its admin transport, straight to the API server
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kubelet-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(_STOP_SECONDS)

    def _run(self) -> None:
        while not self._stopping.wait(_PASS_SECONDS):
            try:
                self.reconcile()
            except (OSError, ValueError, KeyError, ApiError) as exc:  # the server stopping, or one odd object
                if not self._stopping.is_set():
                    logger.warning("kubelet stand-in pass failed: %s", exc)

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        try:
            return self._objects.request(method, path, body, content_type=content_type)
        except ApiError as err:
            if err.status in (404, 409):  # gone or changed meanwhile: the next pass sees the new state
                return None
            raise

    def _keep_ready(self, node: dict[str, Any]) -> None:
        where = f"/api/v1/nodes/{node['metadata']['name']}"
        if not node.get("status", {}).get("conditions"):
            ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ready |= {"lastHeartbeatTime": _now(), "lastTransitionTime": _now()}
            self._call("PATCH", f"{where}/status", {"status": {"conditions": [ready]}}, _MERGE_PATCH)
            return
        taints = node["spec"].get("taints") or []
        if _ready(node) and any(t.get("key") == _NOT_READY_TAINT for t in taints):
            kept = [t for t in taints if t.get("key") != _NOT_READY_TAINT]
            # The resourceVersion makes the patch conditional: a concurrent cordon or taint is never lost.
            patch = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}, "spec": {"taints": kept}}
            self._call("PATCH", where, patch, _MERGE_PATCH)

    def reconcile(self) -> None:
        nodes = self._call("GET", "/api/v1/nodes")["items"]
        pods = self._call("GET", "/api/v1/pods")["items"]
        now = datetime.now(UTC)
        load = Counter(p["spec"].get("nodeName") for p in pods if p["spec"].get("nodeName"))
        for node in nodes:
            self._keep_ready(node)
        for pod in pods:
            meta = pod["metadata"]
            where = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            if meta.get("deletionTimestamp"):
                if _parse_time(meta["deletionTimestamp"]) <= now:
                    options = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
                    self._call("DELETE", where, options)
                continue
            if not pod["spec"].get("nodeName"):
                candidates = [n for n in nodes if _schedulable(n, pod)]
                if candidates:
                    target = min(candidates, key=lambda n: (load[n["metadata"]["name"]], n["metadata"]["name"]))
                    load[target["metadata"]["name"]] += 1
                    binding = {
                        "apiVersion": "v1",
                        "kind": "Binding",
                        "metadata": {"name": meta["name"], "uid": meta["uid"]},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": target["metadata"]["name"]},
                    }
                    self._call("POST", f"{where}/binding", binding)
                continue
            status = pod.get("status") or {}
            # A binding adds the PodScheduled condition; container statuses come only from a kubelet (or a seed).
            if status.get("phase", "Pending") == "Pending" and not status.get("containerStatuses"):
                update = dict(pod, status=running_status(pod, _now()))
                self._call("PUT", f"{where}/status", update)  # carries resourceVersion: never clobbers a newer write
