"""Onboarding figures on the local system: wall time per execution, AWS API calls by operation,
Kubernetes API calls by verb and path. Run with `python -m bench.onboarding` (part of `make bench`)."""

import collections
import re
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient

from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from kops_onboard.executions import run_execution
from stacks.app_builder import synthesize

_CALLER_FRAMES = ("kops_lambda",)


@contextmanager
def counted_aws_calls() -> Iterator[collections.Counter[str]]:
    """Count the API calls our handlers make (in-process), by service and operation."""
    counter: collections.Counter[str] = collections.Counter()
    client_class: Any = BaseClient  # botocore's private hook, untyped in the stubs
    original = client_class._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        if any(any(marker in frame.filename for marker in _CALLER_FRAMES) for frame in traceback.extract_stack()):
            counter[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    client_class._make_api_call = counting
    try:
        yield counter
    finally:
        client_class._make_api_call = original


def _kube_calls(requests: list[Any]) -> collections.Counter[str]:
    counter: collections.Counter[str] = collections.Counter()
    for request in requests:
        path = re.sub(r"/(namespaces)/[^/]+", r"/\1/{ns}", request.path)
        counter[f"{request.method} {path}"] += 1
    return counter


def main() -> None:
    template = synthesize()
    with LocalSystem(template=template) as system:
        cluster = system.add_cluster(ClusterSpec.parse("bench.k8s.local:kops=1.17,networking=kube-router,nodes=3"))
        sfn = system.aws.client("stepfunctions")
        timings = []
        for run in range(3):
            cluster.api_server.clear_requests()
            with counted_aws_calls() as calls:
                started = time.monotonic()
                result = run_execution(
                    sfn, system.state_machines["onboard"], cluster.onboard_input(), name_prefix="bench"
                )
                timings.append(time.monotonic() - started)
            assert result.status == "SUCCEEDED", result.error
            if run == 0:
                first_calls, first_kube = calls.copy(), _kube_calls(cluster.api_server.requests)
            else:
                rerun_calls, rerun_kube = calls.copy(), _kube_calls(cluster.api_server.requests)
    print("onboarding execution wall time (s): first " + ", then ".join(f"{t:.2f}" for t in timings))
    first_total, rerun_total = sum(first_calls.values()), sum(rerun_calls.values())
    print(f"\nAWS API calls by the handlers, first onboarding: {first_total}; rerun: {rerun_total}")
    for name, count in sorted(first_calls.items()):
        print(f"  {name:<55} {count:>3}   rerun {rerun_calls.get(name, 0):>3}")
    print(f"\nKubernetes API calls, first onboarding: {sum(first_kube.values())}; rerun: {sum(rerun_kube.values())}")
    for name, count in sorted(first_kube.items()):
        print(f"  {name:<90} {count:>3}   rerun {rerun_kube.get(name, 0):>3}")


if __name__ == "__main__":
    main()
