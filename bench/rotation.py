"""Access-key rotation figures on the local system: N onboarded clusters, every key aged past the limit in IAM,
the rotation's schedule fired (fired → every key rotated), then fired again with nothing to do. The stack is
synthesized with the rotation on (the tests' template). Run with `python -m bench.rotation [--clusters N]`."""

import argparse
import time
from datetime import timedelta

from moto.iam.models import iam_backends

from kops_lambda.logic.iam_names import user_name
from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from kops_onboard.executions import run_execution
from stacks.app_builder import ACCESS_KEY_ROTATION_OUTDIR, synthesize

DAYS = 30
# Beside the tests' rotation synth (other context): each keeps its own assembly.
OUTDIR = ACCESS_KEY_ROTATION_OUTDIR.with_name("access-key-rotation-bench")


def _fire(system: LocalSystem) -> float:
    assert system.stack is not None
    rule = next(
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Events::Rule" and logical_id.startswith("AccessKeyRotation")
    )
    started = time.monotonic()
    system.aws.fire_scheduled_rule(rule)
    system.aws.drain_event_sources(timeout=600)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=10)
    args = parser.parse_args()
    template = synthesize(OUTDIR, context={"accessKeyRotationDays": str(DAYS)})
    with LocalSystem(template=template, retry_interval_scale=0.01) as system:
        names = [f"bench-rotation-{index}.k8s.local" for index in range(args.clusters)]
        for name in names:
            cluster = system.add_cluster(ClusterSpec.parse(f"{name}:kops=1.21,nodes=1,pods=1"))
            result = run_execution(
                system.aws.client("stepfunctions"),
                system.state_machines["onboard"],
                cluster.onboard_input(),
                name_prefix="bench",
            )
            assert result.status == "SUCCEEDED", (result.error, result.cause)
        iam = system.aws.client("iam")
        before = {name: iam.list_access_keys(UserName=user_name(name))["AccessKeyMetadata"] for name in names}
        backend = iam_backends[system.aws.account_id]["aws"]
        for name in names:
            for key in backend.get_user(user_name(name)).access_keys:
                key.create_date -= timedelta(days=DAYS + 1)
        rotating = _fire(system)
        after = {name: iam.list_access_keys(UserName=user_name(name))["AccessKeyMetadata"] for name in names}
        rotated = sum(
            1
            for name in names
            if len(after[name]) == 1 and after[name][0]["AccessKeyId"] != before[name][0]["AccessKeyId"]
        )
        assert rotated == len(names), f"{rotated} of {len(names)} rotated"
        idle = _fire(system)
        print(
            f"{len(names)} clusters: fired → every key rotated {rotating:.2f} s "
            f"({rotating / len(names) * 1000:.0f} ms per cluster, the container's cold start included); "
            f"a run with nothing to rotate {idle:.2f} s"
        )


if __name__ == "__main__":
    main()
