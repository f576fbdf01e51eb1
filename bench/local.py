"""Local system figures: the Kubernetes API emulator's throughput at a Spot drain's and a busy onboarding's
scale, seeding a cluster on it, LocalAws start-up and `kops-onboard local up` until its JSON line. Printed,
never asserted (the tests check what these do, not how fast: a loaded CI machine is slow, not wrong).
Run with `python -m bench.local` (part of `make bench`); `--runs 1 --skip-local-up` for a short run."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import moto
from kubernetes import client

from kops_local.kube import KubeApiEmulator
from kops_local.seed import ClusterSpec, seed_aws, seed_kube
from stacks.app_builder import synthesize

TOKEN = "bench-token"
REGION = "us-east-1"
SEED_SPEC = "demo.k8s.local"  # kOps 1.21, 1 master + 3 workers, 4 pods each
LOCAL_UP_CLUSTERS = ("one.k8s.local:kops=1.17,networking=kube-router,nodes=2", "two.k8s.local")
LOCAL_AWS_START = (
    "import time; i = time.monotonic(); from kops_local.aws import LocalAws; t = time.monotonic(); "
    "a = LocalAws(); a.start(); a.client('sts').get_caller_identity(); e = time.monotonic(); "
    "print(e - t, e - i); a.stop()"
)


def _api(url: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(configuration)


def _pod(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "batch"}},
        "spec": {"nodeName": "spot-1", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def _pdb(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "batch", "namespace": namespace},
        "spec": {"maxUnavailable": "100%", "selector": {"matchLabels": {"app": "batch"}}},
    }


def evictions_seconds(pods: int = 500, threads: int = 16) -> float:
    """List one node's pods by field selector and evict them all from `threads` threads."""
    emulator = KubeApiEmulator(tokens=[TOKEN], name="bench")
    api = _api(emulator.start())
    try:
        for i in range(pods):
            emulator.store.create(_pod(f"p{i}", f"ns{i % 5}"))
        for n in range(5):
            emulator.store.create(_pdb(f"ns{n}"))
        core = client.CoreV1Api(api)
        started = time.monotonic()
        listed = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=spot-1").items

        def evict(pod: client.V1Pod) -> None:
            meta = pod.metadata
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=meta.name, namespace=meta.namespace))
            core.create_namespaced_pod_eviction(meta.name, meta.namespace, body)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(evict, listed))
        elapsed = time.monotonic() - started
        if len(listed) != pods or emulator.store.list("Pod"):
            raise RuntimeError("the emulator did not evict every pod")
        return elapsed
    finally:
        api.close()
        emulator.stop()


def patches_seconds(patches: int = 1000) -> float:
    """Patch one node's labels `patches` times, one request after the other."""
    emulator = KubeApiEmulator(tokens=[TOKEN], name="bench")
    api = _api(emulator.start())
    try:
        emulator.store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
        core = client.CoreV1Api(api)
        started = time.monotonic()
        for i in range(patches):
            core.patch_node("node-1", {"metadata": {"labels": {"step": str(i)}}})
        return time.monotonic() - started
    finally:
        api.close()
        emulator.stop()


def seeding_seconds() -> float:
    """seed_kube of the default cluster (AWS side on moto in-process, not timed) on a fresh emulator."""
    with moto.mock_aws():
        factory: Any = boto3.client
        clients = {
            name: factory(name, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - moto's fake credentials
            for name in ("ec2", "autoscaling", "s3")
        }
        aws = seed_aws(
            **clients, spec=ClusterSpec.parse(SEED_SPEC), region=REGION, state_store_bucket="bench-kops-state-store"
        )
        emulator = KubeApiEmulator(tokens=[TOKEN], name=aws.name)
        api = _api(emulator.start())
        try:
            started = time.monotonic()
            seed_kube(api, aws.spec, aws)
            return time.monotonic() - started
        finally:
            api.close()
            emulator.stop()


def local_aws_start_seconds(*, with_imports: bool) -> float:
    """A fresh LocalAws (moto server, Lambda runtime, pollers) started in a process of its own, until it has
    answered a first call; with its imports (moto, boto3) or from `start()`."""
    measured = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", LOCAL_AWS_START], capture_output=True, text=True, check=True, timeout=600
    )
    started, imported = (float(value) for value in measured.stdout.strip().splitlines()[-1].split())
    return imported if with_imports else started


def local_up_seconds(template: Path) -> float:
    """`kops-onboard local up` with two clusters, from its start until it prints its JSON line; then stopped."""
    command = [str(Path(sys.executable).parent / "kops-onboard"), "local", "up", "--template", str(template)]
    for spec in LOCAL_UP_CLUSTERS:
        command += ["--cluster", spec]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    try:
        line = process.stdout.readline() if process.stdout else ""
        elapsed = time.monotonic() - started
        if not line.startswith("{"):
            raise RuntimeError(f"local up printed {line!r}")
        return elapsed
    finally:
        process.terminate()
        process.wait(timeout=60)


def _figure(label: str, measure: Callable[[], float], runs: int, unit: str = "", per: float = 0.0) -> None:
    values = [measure() for _ in range(runs)]
    best, median = min(values), statistics.median(values)
    text = f"  {label:<64} median {median:6.2f} s   best {best:6.2f} s   ({runs} runs)"
    if per:
        text += f"   {per / median:,.0f} {unit}/s at the median"
    print(text, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--skip-local-up", action="store_true", help="leave out `kops-onboard local up` (synth)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("Kubernetes API emulator (the official client, over loopback HTTP):")
    _figure(
        "500 pods listed by field selector, evicted from 16 threads", evictions_seconds, args.runs, "evictions", 500
    )
    _figure("1000 label patches of one node, one after the other", patches_seconds, args.runs, "patches", 1000)
    _figure(f"seed_kube {SEED_SPEC} (1 master + 3 workers and their pods)", seeding_seconds, args.runs)
    print("\nStart-up:")
    _figure("LocalAws: start() until a first answer", lambda: local_aws_start_seconds(with_imports=False), args.runs)
    _figure(
        "LocalAws: import + start() until a first answer", lambda: local_aws_start_seconds(with_imports=True), args.runs
    )
    if not args.skip_local_up:
        template = synthesize()
        _figure(
            "`kops-onboard local up`, 2 clusters, until its JSON line", lambda: local_up_seconds(template), args.runs
        )


if __name__ == "__main__":
    main()
