"""Drain a node against a deadline, as `kubectl drain --ignore-daemonsets --delete-emptydir-data --force`
would, minus the waiting: policy/v1 evictions in parallel (bounded), PodDisruptionBudget refusals (429)
retried with backoff and jitter until the deadline, each pod's grace period clamped to the time left.

Pods stay where they are when they would not move anyway: DaemonSet pods (the controller ignores
unschedulable), mirror pods of static manifests (the API cannot delete them), finished and already
terminating pods. We do not wait for evicted pods to terminate: their grace period ends before the deadline
by construction, and the kubelet enforces it.
"""

import heapq
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import urllib3

from kops_lambda.adapters.kube import (
    REQUEST_TIMEOUT,
    KubeApiError,
    KubeClient,
    send,
    translated_kube_errors,
    transport_failure,
)

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_GRACE_SECONDS = 30  # the API's default terminationGracePeriodSeconds
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 4.0
MIN_REQUEST_SECONDS = 0.5
Clock = Callable[[], float]


class Attempt(Enum):
    EVICTED = "evicted"
    GONE = "gone"  # not there any more (or replaced by a pod of the same name): nothing to move
    RETRY = "retry"  # a budget, throttling or a busy/unreachable server: try again later
    FAILED = "failed"  # refused for a reason retrying will not change


@dataclass(frozen=True, order=True)
class PodRef:
    priority: int
    namespace: str
    name: str
    uid: str = field(compare=False)
    grace_seconds: int = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class DrainReport:
    listed: int = 0
    evicted: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)  # pod -> why it is still there
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    force_deleted: list[str] = field(default_factory=list)
    eviction_requests: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.left


def skip_reason(pod: dict[str, Any]) -> str | None:
    """Why a drain leaves this pod alone, or None when it must be evicted."""
    metadata = pod.get("metadata", {})
    if MIRROR_ANNOTATION in (metadata.get("annotations") or {}):
        return "mirror"
    owners = [o for o in metadata.get("ownerReferences") or [] if o.get("controller")]
    kinds = {o.get("kind") for o in owners}
    if "Node" in kinds:  # static pods' mirrors are owned by their Node since Kubernetes 1.17
        return "static"
    if "DaemonSet" in kinds:
        return "daemonset"
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return "finished"
    if metadata.get("deletionTimestamp"):
        return "terminating"
    return None


def pods_to_evict(pods: list[dict[str, Any]]) -> tuple[list[PodRef], dict[str, int]]:
    """The pods to evict, lowest priority first (critical pods keep serving longest), and skip counts."""
    evict: list[PodRef] = []
    skipped: Counter[str] = Counter()
    for pod in pods:
        reason = skip_reason(pod)
        if reason is not None:
            skipped[reason] += 1
            continue
        metadata, spec = pod["metadata"], pod.get("spec", {})
        grace = spec.get("terminationGracePeriodSeconds")
        evict.append(
            PodRef(
                priority=int(spec.get("priority") or 0),
                namespace=metadata["namespace"],
                name=metadata["name"],
                uid=metadata.get("uid", ""),
                grace_seconds=DEFAULT_GRACE_SECONDS if grace is None else int(grace),
            )
        )
    return sorted(evict), dict(skipped)


def list_pods_on_node(core: KubeClient, node_name: str) -> list[dict[str, Any]]:
    with translated_kube_errors("list pods"):
        data = send(core, "GET", "/api/v1/pods?" + urlencode({"fieldSelector": f"spec.nodeName={node_name}"}))
    items: list[dict[str, Any]] = json.loads(data).get("items", [])
    return items


def evict_pod(
    core: KubeClient, pod: PodRef, *, grace_seconds: int, timeout: tuple[float, float]
) -> tuple[Attempt, str]:
    """One policy/v1 eviction; the uid precondition keeps us from evicting a same-named successor."""
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
        "deleteOptions": {"gracePeriodSeconds": grace_seconds, **_uid_precondition(pod)},
    }
    return _call(core, f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/eviction", "POST", body, timeout)


def delete_pod(
    core: KubeClient, pod: PodRef, *, grace_seconds: int, timeout: tuple[float, float]
) -> tuple[Attempt, str]:
    """DELETE, bypassing PodDisruptionBudgets: only for the force-delete opt-in."""
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": grace_seconds}
    body |= _uid_precondition(pod)
    return _call(core, f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}", "DELETE", body, timeout)


def drain_node(
    core: KubeClient,
    node_name: str,
    *,
    deadline: float,
    concurrency: int,
    force_delete: bool = False,
    instance_gone_at: float | None = None,
    clock: Clock = time.time,
) -> DrainReport:
    """Evict the node's pods until none is left or the deadline (epoch seconds, on `clock`) passes."""
    started = clock()
    pods = list_pods_on_node(core, node_name)
    targets, skipped = pods_to_evict(pods)
    report = DrainReport(listed=len(pods), skipped=skipped)
    _evict_all(core, targets, report, deadline=deadline, concurrency=concurrency, clock=clock)
    if force_delete and report.left:
        _force_delete(core, targets, report, until=instance_gone_at or deadline, clock=clock)
    report.seconds = clock() - started
    return report


def _evict_all(
    core: KubeClient,
    targets: list[PodRef],
    report: DrainReport,
    *,
    deadline: float,
    concurrency: int,
    clock: Clock,
) -> None:
    """A scheduler, not a retry loop per worker: a pod waiting out its backoff holds no thread, so budget-
    bound pods cannot starve the others of the bounded concurrency."""
    ready: list[tuple[float, int, PodRef]] = [(0.0, i, pod) for i, pod in enumerate(targets)]
    attempts: Counter[str] = Counter()
    last_reason: dict[str, str] = {}
    in_flight: dict[Future[tuple[Attempt, str]], PodRef] = {}
    sequence = len(ready)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        while ready or in_flight:
            now = clock()
            left = deadline - now
            while ready and ready[0][0] <= now and len(in_flight) < concurrency and left > 0:
                _, _, pod = heapq.heappop(ready)
                grace = max(1, min(pod.grace_seconds, int(left)))
                future = pool.submit(evict_pod, core, pod, grace_seconds=grace, timeout=_timeout(left))
                in_flight[future] = pod
                report.eviction_requests += 1
            if not in_flight:
                if left <= 0 or not ready:
                    break
                time.sleep(max(0.0, min(ready[0][0] - now, left)))
                continue
            waits = [left] if left > 0 else []
            if ready and len(in_flight) < concurrency:
                waits.append(ready[0][0] - now)
            done, _ = wait(in_flight, timeout=max(0.0, min(waits)) if waits else None, return_when=FIRST_COMPLETED)
            for future in done:
                pod = in_flight.pop(future)
                result, reason = future.result()
                if result is Attempt.EVICTED:
                    report.evicted.append(pod.key)
                elif result is Attempt.GONE:
                    report.gone.append(pod.key)
                elif result is Attempt.FAILED:
                    report.left[pod.key] = reason
                else:
                    attempts[pod.key] += 1
                    last_reason[pod.key] = reason
                    sequence += 1
                    heapq.heappush(ready, (clock() + _backoff(attempts[pod.key]), sequence, pod))
    for _, _, pod in ready:
        report.left[pod.key] = last_reason.get(pod.key, "not attempted before the deadline")


def _force_delete(core: KubeClient, targets: list[PodRef], report: DrainReport, *, until: float, clock: Clock) -> None:
    pods = [pod for pod in targets if pod.key in report.left]
    left = until - clock()
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(pods)))) as pool:
        futures = {
            pool.submit(
                delete_pod,
                core,
                pod,
                grace_seconds=max(0, min(pod.grace_seconds, int(left))),
                timeout=_timeout(max(left, MIN_REQUEST_SECONDS)),
            ): pod
            for pod in pods
        }
        for future, pod in futures.items():
            result, reason = future.result()
            if result in (Attempt.EVICTED, Attempt.GONE):
                report.left.pop(pod.key, None)
                report.force_deleted.append(pod.key)
            else:
                report.left[pod.key] = f"{report.left[pod.key]}; force delete: {reason}"


def _backoff(attempt: int) -> float:
    """Exponential, capped, equal jitter: spreads the retries of many budget-bound pods."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def _timeout(seconds_left: float) -> tuple[float, float]:
    connect, read = REQUEST_TIMEOUT
    return (min(connect, max(MIN_REQUEST_SECONDS, seconds_left)), min(read, max(MIN_REQUEST_SECONDS, seconds_left)))


def _uid_precondition(pod: PodRef) -> dict[str, Any]:
    return {"preconditions": {"uid": pod.uid}} if pod.uid else {}


def _call(
    core: KubeClient, path: str, method: str, body: dict[str, Any], timeout: float | tuple[float, float]
) -> tuple[Attempt, str]:
    try:
        send(core, method, path, body=body, timeout=timeout)
    except KubeApiError as exc:
        return _classify(exc)
    except urllib3.exceptions.HTTPError as exc:
        return Attempt.RETRY, transport_failure(exc)
    return Attempt.EVICTED, ""


def _classify(exc: KubeApiError) -> tuple[Attempt, str]:
    status = int(exc.status or 0)
    message = _status_message(exc)
    if status == 404:
        return Attempt.GONE, "not found"
    if status == 409 and "uid" in message.lower():
        return Attempt.GONE, "replaced by a pod of the same name"
    if status == 429:
        budget = "disruption budget" in message.lower()
        return Attempt.RETRY, "disruption budget" if budget else "throttled (429)"
    if status == 500 and "more than one poddisruptionbudget" in message.lower():
        return Attempt.FAILED, "more than one PodDisruptionBudget"
    if status >= 500 or status == 409:
        return Attempt.RETRY, f"API server answered {status}"
    return Attempt.FAILED, f"API server answered {status}: {message[:200]}"


def _status_message(exc: KubeApiError) -> str:
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        return str(exc.reason or "")
    return str(body.get("message") or exc.reason or "") if isinstance(body, dict) else str(exc.reason or "")
