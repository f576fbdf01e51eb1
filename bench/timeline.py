"""When each request reached a cluster's API server (emulated or real, through its proxy), and what call it was."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kops_local.kube import RecordedRequest
from kops_local.kube.served import ServedKubeApi


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    field_selector: str
    cordons: bool = False  # a node write that sets spec.unschedulable


def sets_unschedulable(body: Any) -> bool:
    """Whether a node PATCH or PUT body cordons: a merge patch or object, or a JSON patch operation."""
    if isinstance(body, dict):
        spec = body.get("spec")
        return isinstance(spec, dict) and spec.get("unschedulable") is True
    if isinstance(body, list):
        return any(
            isinstance(op, dict) and op.get("path") == "/spec/unschedulable" and op.get("value") is True for op in body
        )
    return False


@dataclass
class Timeline:
    """Hooked into an API server once; `reset()` starts a new measurement."""

    _seen: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def attach(cls, api_server: ServedKubeApi) -> Timeline:
        timeline = cls()
        api_server.before_request(timeline._record)
        return timeline

    def _record(self, request: RecordedRequest) -> None:
        cordons = request.path.startswith("/api/v1/nodes/") and sets_unschedulable(request.body)
        seen = Seen(time.monotonic(), request.method, request.path, request.query.get("fieldSelector", ""), cordons)
        with self._lock:
            self._seen.append(seen)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def first(self, method: str, path: str) -> float | None:
        return next((s.at for s in self.seen if s.method == method and s.path == path), None)

    def cordoned(self, node: str) -> float | None:
        """When the first request that cordons `node` arrived (NTH labels the node in a PATCH before it)."""
        return next((s.at for s in self.seen if s.cordons and s.path == f"/api/v1/nodes/{node}"), None)

    def last_eviction(self) -> float | None:
        evictions = [s.at for s in self.seen if s.method == "POST" and s.path.endswith("/eviction")]
        return max(evictions) if evictions else None

    def calls(self) -> Counter[str]:
        return Counter(kind(s) for s in self.seen)


def kind(seen: Seen) -> str:
    """A call's role in a drain."""
    path, method = seen.path, seen.method
    if path.endswith("/eviction"):
        return "eviction"
    if path.endswith("/events") and method == "POST":
        return "event"
    if path.startswith("/api/v1/nodes"):
        return f"node {method}" if path != "/api/v1/nodes" else "node LIST"
    if path == "/api/v1/pods" or (path.endswith("/pods") and method == "GET"):
        return "pod LIST"
    if "/pods/" in path and method == "GET":
        return "pod GET"
    if "/pods/" in path and method == "DELETE":
        return "pod DELETE"
    if path in ("/api", "/apis", "/version") or (path.startswith(("/api/v1", "/apis/")) and method == "GET"):
        return "discovery/other GET"
    return f"other {method}"
