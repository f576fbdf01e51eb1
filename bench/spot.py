"""Spot interruption benchmark on the local system (moto + a Kubernetes API per cluster), one run:

1. one node of 10, 100 and 500 pods: EventBridge -> SQS -> our handler, then `kubectl drain` (the pinned
   kubectl of `make kube-bin`, else this machine's) on the same node with the same pods restored, against the
   ideal round trips (1 patch + 1 list + 1 eviction per pod); on the emulator and on the real control plane
   (kube-apiserver + controllers; evicted pods terminate after their grace period, and kubectl waits for that);
2. a burst of 1000 warnings over 50 nodes (20 per node, shuffled): misses, drains per node, latencies;
3. the handler's cold import time and the Lambda bundle's size;
4. on the real control plane, aws-node-termination-handler (`bench/nth.py`, queue-processor mode, kOps' addon
   settings) on the same nodes and pods as our handler, in the same run: one node of 10, 100 and 500 pods
   (after kubectl, the pods restored), and one warning per node on 50 nodes at once, each handler in turn.

Clocks: "event" is the moment PutEvents is called (or kubectl is started); "cordon", "last eviction" are the
moments those requests reach the API server; "done" is when our DrainComplete Event is posted (for kubectl:
when it exits, after waiting for the pods to be gone; for NTH: its drain-result log line, read as it is
written, also after the pods are gone). "Cordon" is the first request that sets spec.unschedulable (NTH labels
the node in a PATCH before that). The local pipeline polls SQS every 50 ms, which the event -> cordon figures
include; NTH long-polls its queue itself. PodDisruptionBudgets are removed from the bench clusters: these are
throughput figures (budgets are covered by the tests).

    python -m bench.spot            # prints the tables (markdown) on stdout, progress on stderr
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore
import dateutil
import s3transfer
import six

from bench import nth
from bench.timeline import Timeline
from kops_lambda.constants import EXCLUDE_FROM_LB_LABEL, METRICS_NAMESPACE, PRODUCT, SPOT_TAINT_KEY
from kops_lambda.logic.spot.drain import skip_reason
from kops_local.controlplane import pinned_binaries
from kops_local.seed import ClusterSpec, SeededInstance
from kops_local.system import KubeBackendName, LocalCluster, LocalSystem
from kops_onboard.executions import run_execution
from kops_onboard.spot_events import REBALANCE, eventbridge_event, spot_event_entry
from stacks.app_builder import PROJECT_ROOT, synthesize
from stacks.constructs.bundling import lambda_python

SIZES = (10, 100, 500)
BURST_NODES = 50
BURST_EVENTS = 1000
HANDLER_MODULE = "kops_lambda.handlers.spot_interruption"


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


# ---- clusters ------------------------------------------------------------------------------------------


def onboard(system: LocalSystem, spec: str) -> LocalCluster:
    cluster = system.add_cluster(ClusterSpec.parse(spec))
    result = run_execution(
        system.aws.client("stepfunctions"),
        system.state_machines["onboard"],
        cluster.onboard_input(),
        name_prefix="bench",
        timeout=300,
    )
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"onboarding {cluster.name} failed: {result.error} {result.cause}")
    for budget in cluster.api_server.store.list("policy/v1/poddisruptionbudgets"):
        cluster.api_server.store.delete(
            "policy/v1/poddisruptionbudgets", budget["metadata"]["namespace"], budget["metadata"]["name"]
        )
    return cluster


def spot_workers(cluster: LocalCluster) -> list[SeededInstance]:
    return [i for i in cluster.aws.instances if i.lifecycle == "spot" and i.role == "node"]


def node_name(cluster: LocalCluster, instance: SeededInstance) -> str:
    return cluster.kube.node_name(instance.instance_id)


def pods_on(cluster: LocalCluster, instance: SeededInstance) -> list[dict[str, Any]]:
    return cluster.api_server.store.list("v1/pods", field_selector=f"spec.nodeName={node_name(cluster, instance)}")


def app_pods(cluster: LocalCluster, instance: SeededInstance) -> list[dict[str, Any]]:
    """The pods a drain must move (not DaemonSet, mirror or finished pods)."""
    return [p for p in pods_on(cluster, instance) if skip_reason(p) is None]


def top_up(cluster: LocalCluster, instance: SeededInstance, size: int) -> None:
    """Add Deployment-style pods until the node runs `size` app pods."""
    store, namespace = cluster.api_server.store, cluster.kube.app_namespace
    owner_name = f"filler-{uuid.uuid4().hex[:10]}"
    missing = size - len(app_pods(cluster, instance))
    if missing <= 0:
        return
    replicaset = store.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": owner_name, "namespace": namespace, "labels": {"app": "filler"}},
            "spec": {
                "replicas": missing,  # a real ReplicaSet controller keeps exactly the pods made below
                "selector": {"matchLabels": {"app": "filler", "rs": owner_name}},
                "template": {
                    "metadata": {"labels": {"app": "filler", "rs": owner_name}},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]},
                },
            },
        }
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": owner_name,
        "uid": replicaset["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for i in range(missing):
        store.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{owner_name}-{i:04d}",
                    "namespace": namespace,
                    "labels": {"app": "filler", "rs": owner_name},
                    "ownerReferences": [owner],
                },
                "spec": {
                    "nodeName": node_name(cluster, instance),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": "app", "image": "app:1"}],
                },
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )


_WORKLOADS = ("deployments", "statefulsets", "replicasets")  # apps/v1, parents before children


def orphan_app_pods(cluster: LocalCluster, workers: list[SeededInstance]) -> None:
    """On a real control plane an evicted pod's ReplicaSet makes a replacement, which the kubelet stand-in binds to
    a schedulable node: one not drained yet, or one the bench has just restored, so a later run would drain more
    pods than the one before it. The pods' controllers are deleted with the Orphan policy first: the pods stay,
    bare, and every handler starts from the same pods (all three evict bare pods)."""
    store: Any = cluster.api_server.store
    namespaces = sorted({p["metadata"]["namespace"] for w in workers for p in app_pods(cluster, w)})
    for namespace in namespaces:
        for plural in _WORKLOADS:
            path = f"/apis/apps/v1/namespaces/{namespace}/{plural}"
            for item in store.request("GET", path)["items"]:
                store.request("DELETE", f"{path}/{item['metadata']['name']}", {"propagationPolicy": "Orphan"})

    def owned() -> bool:  # one list per namespace: a probe per node would swamp the API server
        return any(p["metadata"].get("ownerReferences") for ns in namespaces for p in _workload_pods(store, ns))

    if not _poll(lambda: not owned(), 120):
        raise TimeoutError("the garbage collector did not orphan the pods within 120 s")


def _workload_pods(store: Any, namespace: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = store.list("v1/pods", namespace)
    return [p for p in pods if p.get("spec", {}).get("nodeName") and skip_reason(p) is None]


def restore(cluster: LocalCluster, instance: SeededInstance, snapshot: list[dict[str, Any]]) -> None:
    """Put the evicted pods back and uncordon the node: the same starting point for kubectl.

    On a real server evicted pods stay Terminating for their grace period: wait until they are gone (kubectl
    would wait for them too); restored pods are bare (no owner), so a ReplicaSet controller leaves them alone."""
    store = cluster.api_server.store
    wait_for(lambda: not any(p["metadata"].get("deletionTimestamp") for p in pods_on(cluster, instance)), 120)
    present = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods_on(cluster, instance)}
    for pod in snapshot:
        meta = pod["metadata"]
        if (meta["namespace"], meta["name"]) in present:
            continue
        kept = {k: v for k, v in meta.items() if k in ("name", "namespace", "labels", "annotations")}
        store.create({**pod, "metadata": kept})

    def uncordon(node: dict[str, Any]) -> None:
        node["spec"].pop("unschedulable", None)
        node["spec"]["taints"] = [t for t in node["spec"].get("taints") or [] if t["key"] != SPOT_TAINT_KEY]
        node["metadata"].get("labels", {}).pop(EXCLUDE_FROM_LB_LABEL, None)

    store.mutate("v1/nodes", None, node_name(cluster, instance), uncordon)


# ---- one node: our handler, then kubectl ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    cordon: float  # seconds from the event (or kubectl's start) to the cordon PATCH
    last_eviction: float
    done: float
    evicted: int
    calls: dict[str, int]
    in_handler_cordon_ms: float | None = None
    completed: bool = True  # False: NTH reported its drain failed (its drain timeout passed first)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def warning(system: LocalSystem, instance: SeededInstance) -> dict[str, Any]:
    return spot_event_entry(instance_id=instance.instance_id, region=system.region, account=system.aws.account_id)


def put(system: LocalSystem, entries: list[dict[str, Any]]) -> None:
    events: Any = system.aws.client("events")
    response = events.put_events(Entries=entries)
    if response["FailedEntryCount"]:
        raise RuntimeError(f"PutEvents failed: {response}")


def wait_for(probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        time.sleep(0.002)


def emf_values(lines: list[str], name: str) -> list[float]:
    values: list[float] = []
    for line in lines:
        if f'"{name}"' in line and '"_aws"' in line:
            value = json.loads(line[line.index("{") :]).get(name)
            values.extend(value if isinstance(value, list) else [value])
    return values


def run_handler(system: LocalSystem, cluster: LocalCluster, instance: SeededInstance, timeline: Timeline) -> Run:
    before = len(app_pods(cluster, instance))
    name = node_name(cluster, instance)
    marks = len(system.aws.captured_logs)
    timeline.reset()
    started = time.monotonic()
    put(system, [warning(system, instance)])
    wait_for(
        lambda: any(e["involvedObject"]["name"] == name and e["reason"].startswith("Drain") for e in _events(cluster)),
        120,
    )
    done = max(s.at for s in timeline.seen if s.path.endswith("/events"))
    system.aws.drain_event_sources(timeout=60)
    cordon = timeline.first("PATCH", f"/api/v1/nodes/{name}")
    last = timeline.last_eviction()
    in_handler = emf_values(system.aws.captured_logs[marks:], "TimeToCordon")
    return Run(
        cordon=(cordon or started) - started,
        last_eviction=(last or started) - started,
        done=done - started,
        evicted=before - len(app_pods(cluster, instance)),
        calls=dict(timeline.calls()),
        in_handler_cordon_ms=in_handler[0] if in_handler else None,
    )


def _events(cluster: LocalCluster) -> list[dict[str, Any]]:
    return cluster.api_server.store.list("v1/events")


def kubectl_binary() -> str | None:
    pinned = pinned_binaries().path("kubectl")
    return str(pinned) if pinned.is_file() else shutil.which("kubectl")


def run_kubectl(cluster: LocalCluster, instance: SeededInstance, timeline: Timeline, home: Path) -> Run | None:
    binary = kubectl_binary()
    if binary is None:
        return None
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(cluster.api_server.kubeconfig(cluster.token))
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=180, check=False)  # noqa: S603

    kubectl("get", "nodes")  # an operator's warm discovery cache
    before = len(app_pods(cluster, instance))
    name = node_name(cluster, instance)
    timeline.reset()
    started = time.monotonic()
    result = kubectl("drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=120s")
    ended = time.monotonic()
    if result.returncode != 0:
        say(f"kubectl drain failed: {result.stderr.strip()[-300:]}")
    cordon = timeline.first("PATCH", f"/api/v1/nodes/{name}")
    last = timeline.last_eviction()
    return Run(
        cordon=(cordon or started) - started,
        last_eviction=(last or started) - started,
        done=ended - started,
        evicted=before - len(app_pods(cluster, instance)),
        calls=dict(timeline.calls()),
    )


# NTH waits for the evicted pods to be gone, up to NODE_TERMINATION_GRACE_PERIOD (120 s), then reports.
NTH_OUTCOME_TIMEOUT = 180.0


def run_nth(
    system: LocalSystem, cluster: LocalCluster, instance: SeededInstance, timeline: Timeline, wiring: nth.NthCluster
) -> Run:
    """The same warning through EventBridge to NTH's queue (ours disabled meanwhile), a fresh NTH process per
    run (started and ready before the event); "done" is its log line for the node's drain (after the evicted
    pods are gone) or its failure."""
    before = len(app_pods(cluster, instance))
    name = node_name(cluster, instance)
    with nth.NthProcess(system, cluster, wiring) as process, nth.routed_to_nth(system, wiring):
        timeline.reset()
        started = time.monotonic()
        put(system, [warning(system, instance)])
        wait_for(lambda: process.outcome(name, started) is not None, NTH_OUTCOME_TIMEOUT)
        outcome = process.outcome(name, started)
    system.aws.client("sqs").purge_queue(QueueUrl=wiring.queue_url)  # a failed drain's message would come back
    assert outcome is not None
    if outcome.fields.get("message") != nth.DRAINED:
        say(f"NTH: {outcome.fields.get('message')}: {outcome.fields.get('error', '')}")
    cordon = timeline.cordoned(name)
    last = timeline.last_eviction()
    return Run(
        cordon=(cordon or started) - started,
        last_eviction=(last or started) - started,
        done=outcome.at - started,
        evicted=before - len(app_pods(cluster, instance)),
        calls=dict(timeline.calls()),
        completed=outcome.fields.get("message") == nth.DRAINED,
    )


# ---- the burst ------------------------------------------------------------------------------------------


Rows = list[tuple[int, Run, Run | None, Run | None]]  # pods, our handler, kubectl drain, NTH
RowsByBackend = dict[str, Rows]


@dataclass(frozen=True)
class Burst:
    events: int
    failed: int  # records the handler reported failed (SQS would retry them)
    nodes: int
    seconds: float
    misses: int
    drains: dict[int, int]  # drains per node -> how many nodes
    cordon_latencies: list[float]
    drained_latencies: list[float]
    duplicates: float
    calls: int


def spot_function(system: LocalSystem) -> str:
    functions = system.aws.client("lambda").list_functions()["Functions"]
    return next(f["FunctionName"] for f in functions if f["Handler"] == f"{HANDLER_MODULE}.handler")


def sqs_batch(system: LocalSystem, bodies: list[str]) -> dict[str, Any]:
    """An `aws:sqs` event as the Lambda poller hands a batch to the function."""
    queue_arn = f"arn:aws:sqs:{system.region}:{system.aws.account_id}:spot-events"
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": system.region,
        }
        for body in bodies
    ]
    return {"Records": records}


def run_burst(system: LocalSystem, cluster: LocalCluster, timeline: Timeline, events: int) -> Burst:
    """All warnings exist at t0 and reach the function in SQS batches of 10, one invocation after another
    (one warm container: AWS would run several). The batches are invoked directly: moto's SQS costs O(queue
    depth) per call (about 1 s per receive with 1000 messages queued), which would measure moto, not us."""
    workers = spot_workers(cluster)
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): w for w in workers for p in app_pods(cluster, w)}
    bodies = [
        json.dumps(eventbridge_event(instance_id=w.instance_id, region=system.region, account=system.aws.account_id))
        for w in workers
        for _ in range(events // len(workers))
    ]
    random.Random(7).shuffle(bodies)  # noqa: S311 - a fixed order, not a secret
    function, lam = spot_function(system), system.aws.client("lambda")
    marks = len(system.aws.captured_logs)
    timeline.reset()
    failed = 0
    started = time.monotonic()
    for chunk in range(0, len(bodies), 10):
        payload = json.dumps(sqs_batch(system, bodies[chunk : chunk + 10]))
        response = lam.invoke(FunctionName=function, Payload=payload.encode())
        answer = json.loads(response["Payload"].read() or b"{}")
        failed += len(answer.get("batchItemFailures", [])) + (10 if "FunctionError" in response else 0)
    if failed:
        say(f"burst: {failed} records failed (SQS would retry them)")
    seen = timeline.seen
    seconds = max(s.at for s in seen) - started
    by_id = {w.instance_id: w for w in workers}
    cordons: list[float] = []
    drained: list[float] = []
    drains: dict[int, int] = {}
    misses = 0
    for worker in by_id.values():
        name = node_name(cluster, worker)
        patch = next((s.at for s in seen if s.method == "PATCH" and s.path == f"/api/v1/nodes/{name}"), None)
        lists = sum(1 for s in seen if s.path == "/api/v1/pods" and s.field_selector == f"spec.nodeName={name}")
        drains[lists] = drains.get(lists, 0) + 1
        evictions = [
            s.at
            for s in seen
            if s.path.endswith("/eviction") and pods.get((s.path.split("/")[4], s.path.split("/")[6])) is worker
        ]
        node = cluster.api_server.store.get("v1/nodes", None, name) or {}
        left = app_pods(cluster, worker)
        if patch is None or not node.get("spec", {}).get("unschedulable") or left or lists != 1:
            misses += 1
            say(f"missed {name}: patched={patch is not None} lists={lists} pods left={len(left)}")
            continue
        cordons.append(patch - started)
        drained.append((max(evictions) if evictions else patch) - started)
    return Burst(
        events=len(bodies),
        failed=failed,
        nodes=len(workers),
        seconds=seconds,
        misses=misses,
        drains=drains,
        cordon_latencies=cordons,
        drained_latencies=drained,
        duplicates=sum(emf_values(system.aws.captured_logs[marks:], "DuplicateEvents")),
        calls=len(seen),
    )


# ---- the same burst for our handler and NTH, on the real control plane ----------------------------------------


@dataclass(frozen=True)
class SideBurst:
    """One warning per node on every Spot node at once, for one handler."""

    nodes: int
    misses: int  # nodes not cordoned, or with pods not evicted, by the deadline
    seconds: float  # first event -> the last eviction on any node
    cordon_latencies: list[float]
    evicted_latencies: list[float]  # to the node's last eviction (every pod told to leave)
    done_latencies: list[float]  # NTH: its drain result for the node (after the pods are gone); ours: none
    failed_drains: int  # NTH's drain failures (its 120 s drain timeout)
    calls: int


SideBursts = tuple[SideBurst, SideBurst]  # our handler, NTH

# Our handler drains 50 nodes in seconds; NTH waits for each node's pods to go, 10 nodes at a time.
SIDE_BURST_TIMEOUT = 180.0
NTH_BURST_TIMEOUT = 420.0


def correlated_warnings(system: LocalSystem, workers: list[SeededInstance]) -> float:
    """One warning per node, all put at once (PutEvents takes 10 entries a call); returns when it began."""
    started = time.monotonic()
    for chunk in range(0, len(workers), 10):
        put(system, [warning(system, w) for w in workers[chunk : chunk + 10]])
    return started


def _poll(probe: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Like wait_for, gentler on a real API server (each probe lists every node's pods); False on timeout."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _left(cluster: LocalCluster, worker: SeededInstance, pods: dict[tuple[str, str], SeededInstance]) -> list[str]:
    """The node's pods of the burst's start (`pods`) not evicted yet."""
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in app_pods(cluster, worker)]
    return [f"{namespace}/{name}" for namespace, name in names if (namespace, name) in pods]


def side_burst(
    cluster: LocalCluster,
    workers: list[SeededInstance],
    seen: list[Any],
    started: float,
    pods: dict[tuple[str, str], SeededInstance],
    *,
    done: dict[str, float],
    failed_drains: int = 0,
) -> SideBurst:
    """The figures of one handler's burst from what reached the API server; `done`: node -> its drain result."""
    cordons: list[float] = []
    evicted: list[float] = []
    misses = 0
    for worker in workers:
        name = node_name(cluster, worker)
        cordon = next((s.at for s in seen if s.cordons and s.path == f"/api/v1/nodes/{name}"), None)
        evictions = [
            s.at
            for s in seen
            if s.path.endswith("/eviction") and pods.get((s.path.split("/")[4], s.path.split("/")[6])) is worker
        ]
        left = _left(cluster, worker, pods)
        if cordon is None or left:
            misses += 1
            say(f"missed {name}: cordoned={cordon is not None} pods left={len(left)}")
            continue
        cordons.append(cordon - started)
        evicted.append((max(evictions) if evictions else cordon) - started)
    last = max((s.at for s in seen if s.path.endswith("/eviction")), default=started)
    return SideBurst(
        nodes=len(workers),
        misses=misses,
        seconds=last - started,
        cordon_latencies=cordons,
        evicted_latencies=evicted,
        done_latencies=[at - started for at in done.values()],
        failed_drains=failed_drains,
        calls=len(seen),
    )


def run_side_by_side_burst(
    system: LocalSystem, cluster: LocalCluster, timeline: Timeline, wiring: nth.NthCluster
) -> SideBursts:
    """Our handler, then (the pods restored, the nodes uncordoned) NTH, on the same 50 nodes and pods."""
    workers = spot_workers(cluster)
    snapshots = {w.instance_id: pods_on(cluster, w) for w in workers}
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): w for w in workers for p in app_pods(cluster, w)}
    say(f"burst of {len(workers)} (real API server): our handler")
    timeline.reset()
    started = correlated_warnings(system, workers)
    if not _poll(lambda: not any(_left(cluster, w, pods) for w in workers), SIDE_BURST_TIMEOUT):
        say("burst: our handler left pods behind")
    system.aws.drain_event_sources(timeout=60)  # its Kubernetes Events, counted with its calls
    ours = side_burst(cluster, workers, timeline.seen, started, pods, done={})
    for worker in workers:
        restore(cluster, worker, snapshots[worker.instance_id])
    say(f"burst of {len(workers)} (real API server): NTH")
    names = [node_name(cluster, w) for w in workers]
    with nth.NthProcess(system, cluster, wiring) as process, nth.routed_to_nth(system, wiring):
        timeline.reset()
        started = correlated_warnings(system, workers)
        _poll(lambda: all(process.outcome(n, started) for n in names), NTH_BURST_TIMEOUT)
        outcomes = {n: process.outcome(n, started) for n in names}
    system.aws.client("sqs").purge_queue(QueueUrl=wiring.queue_url)
    done = {n: o.at for n, o in outcomes.items() if o is not None and o.fields.get("message") == nth.DRAINED}
    failed = sum(1 for o in outcomes.values() if o is not None and o.fields.get("message") == nth.FAILED)
    theirs = side_burst(cluster, workers, timeline.seen, started, pods, done=done, failed_drains=failed)
    return ours, theirs


# ---- cold import and bundle -----------------------------------------------------------------------------


def import_seconds(python: str, path: list[str], runs: int = 5, environment: dict[str, str] | None = None) -> float:
    """Best of `runs` fresh interpreters importing the handler module (bytecode already compiled): the least
    disturbed run, since other work on the machine only ever adds to it."""
    code = f"import time; t = time.perf_counter(); import {HANDLER_MODULE}; print(time.perf_counter() - t)"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "LAMBDA_"))},
        "PYTHONPATH": os.pathsep.join(path),
        "AWS_DEFAULT_REGION": "us-east-1",
        **(environment or {}),
    }
    samples = []
    for _ in range(runs + 1):  # the first run may write bytecode: not counted
        result = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return min(samples[1:])


def lambda_environment(bundle: Path) -> dict[str, str]:
    """What Lambda's runtime sets before the import: with LAMBDA_TASK_ROOT the X-Ray SDK takes its Lambda path
    (Powertools' Tracer enabled, patching the libraries; no sampling client, which it builds elsewhere)."""
    return {
        "LAMBDA_TASK_ROOT": str(bundle),
        "AWS_LAMBDA_FUNCTION_NAME": "KopsOnboard-SpotHandler",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": PRODUCT,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }


def bundle_dir(template: Path) -> Path:
    assets = json.loads((template.parent / "KopsOnboard.assets.json").read_text())["files"]
    (asset,) = [a for a in assets.values() if a["source"].get("packaging") == "zip"]
    return template.parent / str(asset["source"]["path"])


def bundle_sizes(bundle: Path) -> tuple[int, int, int]:
    """(files, bytes unzipped, bytes zipped as `cdk deploy` would upload it)."""
    files = [p for p in bundle.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for path in files:
                zf.write(path, path.relative_to(bundle))
        zipped = archive.stat().st_size
    return len(files), unzipped, zipped


def largest_packages(bundle: Path, count: int = 10) -> list[tuple[str, int]]:
    """The bundle's top-level entries by bytes, with their bytecode (dist-info folders are listed apart)."""
    sizes: dict[str, int] = {}
    for path in bundle.rglob("*"):
        if path.is_file():
            top = path.relative_to(bundle).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:count]


def boto3_path(tmp: Path) -> Path:
    """boto3 and its own dependencies only (the Lambda runtime provides them; the bundle does not)."""
    for module in (boto3, botocore, s3transfer, dateutil):
        source = Path(module.__file__ or "").parent
        (tmp / source.name).symlink_to(source)
    (tmp / Path(six.__file__ or "").name).symlink_to(Path(six.__file__ or ""))
    return tmp


# ---- the report -----------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _breakdown(calls: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(calls.items(), key=lambda kv: -kv[1]))


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return " / ".join(_ms(_percentile(values, q)) for q in (0.5, 0.95, 1.0))


def _ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.1f}" if math.isfinite(theirs) and math.isfinite(ours) and ours > 0 else "n/a"


def side_by_side_report(rows: Rows, bursts: SideBursts | None) -> str:
    """Our handler and NTH on the same real control plane, nodes and pods, in the same run."""
    lines = [
        "### Our handler and aws-node-termination-handler (NTH), same run, real control plane",
        "",
        "Both get the same EventBridge warning through their own rule and queue (the other's rule disabled), "
        "on the same node with the same pods restored. Columns «NTH / ours» are ratios within this run.",
        "",
        "| pods | ours: event→cordon | NTH: event→cordon | NTH / ours | ours: event→drained (last eviction) | "
        "NTH: event→drained (last eviction) | NTH / ours | ours: done | NTH: done (pods gone) | ours API calls | "
        "NTH API calls | NTH result |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    measured = [(size, ours, theirs) for size, ours, _, theirs in rows if theirs is not None]
    for size, ours, theirs in measured:
        result = "drained" if theirs.completed else f"drain failed, {theirs.evicted} of {size} evicted"
        lines.append(
            f"| {size} | {_ms(ours.cordon)} | {_ms(theirs.cordon)} | {_ratio(theirs.cordon, ours.cordon)} | "
            f"{_ms(ours.last_eviction)} | {_ms(theirs.last_eviction)} | "
            f"{_ratio(theirs.last_eviction, ours.last_eviction)} | {_ms(ours.done)} | {_ms(theirs.done)} | "
            f"{ours.total_calls} | {theirs.total_calls} | {result} |"
        )
    lines += ["", "API calls per event, by kind:", ""]
    for size, ours, theirs in measured:
        lines.append(f"- {size} pods, our handler: {_breakdown(ours.calls)}")
        lines.append(f"- {size} pods, NTH: {_breakdown(theirs.calls)}")
    if bursts is not None:
        ours_burst, nth_burst = bursts
        lines += [
            "",
            f"**Burst**: {ours_burst.nodes} correlated interruptions, one warning per node on {ours_burst.nodes} "
            "nodes, put at once (the row «NTH / ours»: ratios within this run)",
            "",
            "| handler | nodes missed | event→cordon p50 / p95 / max | event→drained (last eviction) "
            "p50 / p95 / max | done (NTH: pods gone) p50 / p95 / max | first event → last eviction | "
            "drains failed | Kubernetes API calls per event |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, burst in (("ours", ours_burst), ("NTH", nth_burst)):
            lines.append(
                f"| {label} | {burst.misses} | {_spread(burst.cordon_latencies)} | "
                f"{_spread(burst.evicted_latencies)} | {_spread(burst.done_latencies)} | {_ms(burst.seconds)} | "
                f"{burst.failed_drains} | {burst.calls / burst.nodes:.1f} |"
            )
        medians = [
            _ratio(_percentile(nth_burst.cordon_latencies, 0.5), _percentile(ours_burst.cordon_latencies, 0.5)),
            _ratio(_percentile(nth_burst.evicted_latencies, 0.5), _percentile(ours_burst.evicted_latencies, 0.5)),
        ]
        lines.append(
            f"| NTH / ours (p50) | | {medians[0]} | {medians[1]} | | "
            f"{_ratio(nth_burst.seconds, ours_burst.seconds)} | | {_ratio(nth_burst.calls, ours_burst.calls)} |"
        )
    return "\n".join(lines)


def report(
    rows_by_backend: RowsByBackend,
    burst: Burst,
    cold: float,
    imports: dict[str, float],
    bundle: tuple[int, int, int],
    *,
    largest: list[tuple[str, int]],
) -> str:
    lines = [
        "### One node: event -> cordon -> drained (same API server, same node, same pods)",
        "",
        "| API server | pods | handler: event→cordon | (in handler) | handler: →last eviction | handler: done | "
        "handler API calls | kubectl drain: start→cordon | kubectl: →last eviction | kubectl: done | "
        "kubectl API calls | ideal calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labelled = [(backend, row) for backend, rows in rows_by_backend.items() for row in rows]
    for backend, (size, ours, theirs, _) in labelled:
        in_handler = f"{ours.in_handler_cordon_ms:.0f} ms" if ours.in_handler_cordon_ms is not None else "n/a"
        kubectl = (
            [_ms(theirs.cordon), _ms(theirs.last_eviction), _ms(theirs.done), str(theirs.total_calls)]
            if theirs
            else ["n/a"] * 4
        )
        lines.append(
            f"| {backend} | {size} | {_ms(ours.cordon)} | {in_handler} | {_ms(ours.last_eviction)} | "
            f"{_ms(ours.done)} | {ours.total_calls} | {' | '.join(kubectl)} | {size + 2} |"
        )
    lines += ["", "API calls per event, by kind:", ""]
    for backend, (size, ours, theirs, _) in labelled:
        lines.append(f"- {backend}, {size} pods, handler: {_breakdown(ours.calls)}")
        if theirs:
            lines.append(f"- {backend}, {size} pods, kubectl drain: {_breakdown(theirs.calls)}")
    lines += [
        "",
        f"### Burst: {burst.events} warnings over {burst.nodes} nodes "
        f"({burst.events // burst.nodes} per node, shuffled)",
        "",
        "| nodes missed | records failed | drains per node | duplicates acknowledged | "
        "first event → last node drained | event→cordon p50 / p95 / max | event→drained p50 / p95 / max | "
        "Kubernetes API calls per event |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {burst.misses} | {burst.failed} | "
        f"{', '.join(f'{d} on {n} nodes' for d, n in sorted(burst.drains.items()))} | "
        f"{burst.duplicates:.0f} | {burst.seconds:.1f} s | "
        f"{' / '.join(_ms(_percentile(burst.cordon_latencies, q)) for q in (0.5, 0.95, 1.0))} | "
        f"{' / '.join(_ms(_percentile(burst.drained_latencies, q)) for q in (0.5, 0.95, 1.0))} | "
        f"{burst.calls / burst.events:.2f} |",
        "",
        "### Handler cold start and bundle",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    lines.append(f"| first event after a deploy (cold container): event→taint PATCH | {_ms(cold)} |")
    for label, seconds in imports.items():
        lines.append(f"| cold import of `{HANDLER_MODULE}`, best of 5, {label} | {seconds * 1000:.0f} ms |")
    files, unzipped, zipped = bundle
    lines += [
        f"| bundle (one asset for every function) | {files} files, {unzipped / 1e6:.1f} MB unzipped, "
        f"{zipped / 1e6:.1f} MB zipped |",
        f"| largest in the bundle | {', '.join(f'{name} {size / 1e6:.1f} MB' for name, size in largest)} |",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="pods per node, comma-separated")
    parser.add_argument("--burst-events", type=int, default=BURST_EVENTS)
    parser.add_argument("--burst-nodes", type=int, default=BURST_NODES)
    parser.add_argument(
        "--kube", default="emulator,real", help="API servers of the one-node runs, comma-separated (emulator, real)"
    )
    parser.add_argument(
        "--nth-burst-nodes",
        type=int,
        default=BURST_NODES,
        help="nodes of the real control plane's burst for our handler and NTH (0: no burst)",
    )
    parser.add_argument("--no-nth", action="store_true", help="leave aws-node-termination-handler out")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    started = time.monotonic()
    out = sys.stdout
    log_path = Path(tempfile.gettempdir()) / "kops-onboard-bench.log"
    say(f"handler logs go to {log_path}, aws-node-termination-handler's to {nth.LOG_PATH}")
    nth.LOG_PATH.write_text("")
    say("synthesizing the stack")
    template = synthesize()
    bundle = bundle_dir(template)
    backends: list[KubeBackendName] = [b for b in ("emulator", "real") if b in args.kube.split(",")]
    with_nth = not args.no_nth and nth.binary().is_file()
    if not args.no_nth and not with_nth:
        say(f"aws-node-termination-handler left out: {nth.binary()} is missing (make nth-bin)")
    bursts: SideBursts | None = None
    with log_path.open("w") as logs, contextlib.redirect_stdout(logs):
        rows, burst, cold = _run_system(template, sizes, args.burst_events, args.burst_nodes)
        rows_by_backend: RowsByBackend = {"emulator": rows} if "emulator" in backends else {}
        if "real" in backends:
            nth_burst_nodes = args.nth_burst_nodes if with_nth else None
            rows_by_backend["real"], bursts = _real_system(template, sizes, nth_burst_nodes=nth_burst_nodes)
    say("cold import and bundle size")
    imports = {"Python 3.11, this venv": import_seconds(sys.executable, [str(PROJECT_ROOT / "lambdas")])}
    interpreter = lambda_python()
    if interpreter:
        with tempfile.TemporaryDirectory() as tmp:
            version = subprocess.run([interpreter, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
            path = [str(bundle), str(boto3_path(Path(tmp)))]
            imports[f"{version.strip()}, the bundle as deployed (+ boto3)"] = import_seconds(interpreter, path)
            imports[f"{version.strip()}, the bundle, Lambda's environment"] = import_seconds(
                interpreter, path, environment=lambda_environment(bundle)
            )
    tables = report(rows_by_backend, burst, cold, imports, bundle_sizes(bundle), largest=largest_packages(bundle))
    print(tables, file=out)
    if with_nth and "real" in rows_by_backend:
        print("\n" + side_by_side_report(rows_by_backend["real"], bursts), file=out)
    say(f"done in {time.monotonic() - started:.0f} s")


def cold_start(system: LocalSystem, cluster: LocalCluster, timeline: Timeline) -> float:
    """The first event after a deploy: a rebalance recommendation for the on-demand worker (taint only).
    Seconds from PutEvents to its PATCH, cold imports and clients included; it also warms the handler."""
    worker = next(i for i in cluster.aws.workers if i.lifecycle == "on-demand")
    timeline.reset()
    started = time.monotonic()
    put(
        system,
        [
            spot_event_entry(
                instance_id=worker.instance_id,
                region=system.region,
                account=system.aws.account_id,
                detail_type=REBALANCE,
            )
        ],
    )
    path = f"/api/v1/nodes/{node_name(cluster, worker)}"
    wait_for(lambda: timeline.first("PATCH", path) is not None, 60)
    system.aws.drain_event_sources(timeout=60)
    return (timeline.first("PATCH", path) or started) - started


def _real_system(template: Path, sizes: list[int], *, nth_burst_nodes: int | None) -> tuple[Rows, SideBursts | None]:
    """Our handler, kubectl drain and (given `nth_burst_nodes`) NTH per node size on the real control plane, then
    the burst of one warning per node on that many nodes for our handler and NTH."""
    with LocalSystem(template=template, retry_interval_scale=0.01, kube="real") as system:
        say("onboarding the bench cluster (real API server)")
        cluster = onboard(system, f"bench.k8s.local:kops=1.21,nodes={len(sizes) + 1},pods=10,naming=id")
        wiring = nth.prepare(system, cluster) if nth_burst_nodes is not None else None
        timeline = Timeline.attach(cluster.api_server)
        cold_start(system, cluster, timeline)  # warms the handler, as the emulator run does
        rows = _drain_rows(cluster, system, sizes, timeline, "real", wiring=wiring)
        if not nth_burst_nodes:
            return rows, None
        say(f"onboarding the burst cluster ({nth_burst_nodes} Spot nodes, real API server)")
        spec = f"burst.k8s.local:kops=1.21,nodes={nth_burst_nodes},spot={nth_burst_nodes},pods=10,naming=id"
        burst_cluster = onboard(system, spec)
        orphan_app_pods(burst_cluster, spot_workers(burst_cluster))
        burst_wiring = nth.prepare(system, burst_cluster)
        return rows, run_side_by_side_burst(
            system, burst_cluster, Timeline.attach(burst_cluster.api_server), burst_wiring
        )


def _drain_rows(
    cluster: LocalCluster,
    system: LocalSystem,
    sizes: list[int],
    timeline: Timeline,
    kube: str,
    *,
    wiring: nth.NthCluster | None = None,
) -> Rows:
    rows: Rows = []
    with tempfile.TemporaryDirectory() as home:
        for size, instance in zip(sizes, spot_workers(cluster), strict=False):
            top_up(cluster, instance, size)
            if kube == "real":
                orphan_app_pods(cluster, [instance])
            snapshot = pods_on(cluster, instance)
            say(f"{size} pods ({kube}): our handler")
            ours = run_handler(system, cluster, instance, timeline)
            restore(cluster, instance, snapshot)
            say(f"{size} pods ({kube}): kubectl drain")
            theirs = run_kubectl(cluster, instance, timeline, Path(home))
            handler = None
            if wiring is not None:
                restore(cluster, instance, snapshot)
                say(f"{size} pods ({kube}): aws-node-termination-handler")
                handler = run_nth(system, cluster, instance, timeline, wiring)
            rows.append((size, ours, theirs, handler))
    return rows


def _run_system(template: Path, sizes: list[int], burst_events: int, burst_nodes: int) -> tuple[Rows, Burst, float]:
    with LocalSystem(template=template, retry_interval_scale=0.01) as system:
        say("onboarding the bench cluster")
        cluster = onboard(system, f"bench.k8s.local:kops=1.21,nodes={len(sizes) + 1},pods=10,naming=id")
        timeline = Timeline.attach(cluster.api_server)
        say("first event on a cold container")
        cold = cold_start(system, cluster, timeline)
        rows = _drain_rows(cluster, system, sizes, timeline, "emulator")
        say(f"onboarding the burst cluster ({burst_nodes} Spot nodes)")
        spec = f"burst.k8s.local:kops=1.21,nodes={burst_nodes},spot={burst_nodes},pods=10,naming=id"
        burst_cluster = onboard(system, spec)
        say(f"burst: {burst_events} warnings")
        burst = run_burst(system, burst_cluster, Timeline.attach(burst_cluster.api_server), burst_events)
    return rows, burst, cold


if __name__ == "__main__":
    main()
