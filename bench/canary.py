"""Spot canary figures on the local system with the real control plane: per cluster, the canary's own clock
(credential read → client → SelfSubjectAccessReviews, renewal when due), and the whole invocation (schedule
fired → every result recorded). Run with `python -m bench.canary [--clusters N] [--runs N]`."""

import argparse
import statistics
import time

from boto3.dynamodb.types import TypeDeserializer

from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from kops_onboard.executions import run_execution
from stacks.app_builder import synthesize


def _records(system: LocalSystem) -> dict[str, dict[str, object]]:
    deserializer = TypeDeserializer()
    items = system.aws.client("dynamodb").scan(TableName=system.output("RegistryTableName"))["Items"]
    plain = [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]
    return {str(item["cluster_name"]): item["canary"] for item in plain if "canary" in item}


def _rule(system: LocalSystem) -> str:
    assert system.stack is not None
    return next(
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Events::Rule" and logical_id.startswith("SpotCanary")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--identity-mode", default="service-account", choices=["service-account", "authenticator"])
    args = parser.parse_args()
    with LocalSystem(template=synthesize(), kube="real", retry_interval_scale=0.01) as system:
        for index in range(args.clusters):
            cluster = system.add_cluster(ClusterSpec.parse(f"bench-canary-{index}.k8s.local:kops=1.21,nodes=1"))
            payload = {**cluster.onboard_input(), "identity_mode": args.identity_mode}
            result = run_execution(
                system.aws.client("stepfunctions"), system.state_machines["onboard"], payload, name_prefix="bench"
            )
            assert result.status == "SUCCEEDED", (result.error, result.cause)
        rule = _rule(system)
        per_cluster: list[float] = []
        for run in range(args.runs):
            started = time.monotonic()
            system.aws.fire_scheduled_rule(rule)
            system.aws.drain_event_sources(timeout=300)
            wall = time.monotonic() - started
            records = _records(system)
            durations = [float(str(r["duration_ms"])) for r in records.values()]
            assert all(r["ok"] for r in records.values()), records
            if run:  # the first run includes the container's cold start
                per_cluster += durations
            print(
                f"run {run + 1}: {len(records)} clusters ok, fired → recorded {wall:.2f} s, per cluster {durations} ms"
            )
        if per_cluster:
            print(
                f"{args.identity_mode}, warm runs: per cluster p50 {statistics.median(per_cluster):.0f} ms, "
                f"max {max(per_cluster):.0f} ms ({len(per_cluster)} checks)"
            )


if __name__ == "__main__":
    main()
