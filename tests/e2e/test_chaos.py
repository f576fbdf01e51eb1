"""Chaos, end to end and bounded in time: the cluster's API server failing or stalling while MapIdentity
works on it and while a Spot drain evicts, IAM and Secrets Manager throttling through whole onboardings and
offboardings. Every case converges: the workflow succeeds, nothing half-made remains, the one access key
is the stored one, and the registry tells the truth (see test_concurrency for lease races and
test_stopped_onboarding for StopExecution at each state)."""

from typing import Any

import pytest

from kops_onboard.executions import start_execution, wait_for_execution
from kops_onboard.local.seed import ClusterSpec
from kops_onboard.local.system import LocalCluster, LocalSystem
from tests.e2e import spot_support as support
from tests.e2e.test_concurrency import assert_consistent

# status, times, delay: errors and slow answers of the API server (429 and 5xx are KubeApiUnavailable,
# retried by the workflow; the delays stay inside the client's read timeout)
API_SERVER_FAULTS = [
    pytest.param(500, 3, 0.0, id="500"),
    pytest.param(429, 3, 0.0, id="429"),
    pytest.param(503, 2, 0.0, id="503"),
    pytest.param(504, 2, 2.0, id="stall-then-504"),
]


def run(system: LocalSystem, cluster: LocalCluster, kind: str) -> Any:
    payload = cluster.onboard_input() if kind == "onboard" else cluster.offboard_input(secret_recovery_days=0)
    sfn = system.aws.client("stepfunctions")
    return wait_for_execution(
        sfn, start_execution(sfn, system.state_machines[kind], payload, name_prefix=kind), timeout=180
    )


@pytest.mark.parametrize(("status", "times", "delay"), API_SERVER_FAULTS)
def test_api_server_failures_during_map_identity_are_retried_and_the_onboarding_converges(
    local_system: LocalSystem, status: int, times: int, delay: float
) -> None:
    cluster = local_system.add_cluster(ClusterSpec.parse(f"chaos-map-{status}.k8s.local:kops=1.21,nodes=1"))
    sfn = local_system.aws.client("stepfunctions")
    # Given an onboarding that has reached MapIdentity, and an API server that fails its next requests
    with local_system.aws.hold_lambda("OnboardingMapIdentityFunction") as hold:
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="c"
        )
        assert hold.reached.wait(timeout=60)
        cluster.api_server.clear_requests()
        cluster.api_server.inject_fault(method="*", path_pattern="/", status=status, times=times, delay=delay)
    # When it goes on, Then it succeeds, the faults spent on MapIdentity, and the account and the cluster agree
    result = wait_for_execution(sfn, execution, timeout=180)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [r.status for r in cluster.api_server.requests[:times]] == [status] * times
    assert_consistent(local_system, cluster)
    assert run(local_system, cluster, "offboard").status == "SUCCEEDED"
    assert_consistent(local_system, cluster)


def test_onboarding_and_offboarding_converge_under_iam_and_secrets_manager_throttling(
    local_system: LocalSystem,
) -> None:
    cluster = local_system.add_cluster(ClusterSpec.parse("chaos-throttled.k8s.local:kops=1.21,nodes=1"))
    # Given IAM and Secrets Manager answering every third call with their throttling error
    with local_system.aws.aws_throttling(services=("iam", "secretsmanager"), every=3) as throttling:
        # When a cluster is onboarded, onboarded again, then offboarded
        results = [run(local_system, cluster, kind) for kind in ("onboard", "onboard")]
        assert [r.status for r in results] == ["SUCCEEDED"] * 2, [(r.error, r.cause) for r in results]
        assert_consistent(local_system, cluster)
        offboarded = run(local_system, cluster, "offboard")
    # Then each converged, and the throttling reached the calls of both services in every kind of step
    assert offboarded.status == "SUCCEEDED", (offboarded.error, offboarded.cause)
    assert_consistent(local_system, cluster)
    throttled = set(throttling.answered)
    assert {call.split(":")[0] for call in throttled} == {"iam", "secretsmanager"}, throttled
    assert len(throttled) >= 10, throttled  # distinct actions: creations, reads and deletions alike


@pytest.mark.parametrize(("status", "times"), [(500, 3), (429, 4)])
def test_api_server_failures_during_a_drain_are_retried_until_the_node_is_drained(
    local_system: LocalSystem, status: int, times: int
) -> None:
    # Given an onboarded cluster whose API server fails the next evictions
    cluster = support.onboard(local_system, f"chaos-drain-{status}.k8s.local:kops=1.21,nodes=2,pods=4,naming=id")
    spot = support.spot_workers(cluster)[0]
    cluster.api_server.clear_requests()
    cluster.api_server.inject_fault(method="POST", path_pattern="/eviction$", status=status, times=times)
    # When the Spot warning arrives
    support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=90)
    # Then the failed evictions were retried and the node is drained all the same
    evictions = [r.status for r in cluster.api_server.requests if r.path.endswith("/eviction")]
    assert evictions[:times] == [status] * times, evictions
    reasons = [event["reason"] for event in support.node_events(cluster, spot)]
    assert "DrainComplete" in reasons, reasons
    workloads = [p for p in support.pods_on(cluster, spot) if not _kept_by_design(p)]
    assert workloads == [], [p["metadata"]["name"] for p in workloads]


def _kept_by_design(pod: dict[str, Any]) -> bool:
    """DaemonSet and mirror pods stay on a drained node."""
    owners = pod["metadata"].get("ownerReferences") or []
    mirror = "kubernetes.io/config.mirror" in (pod["metadata"].get("annotations") or {})
    return mirror or any(owner["kind"] == "DaemonSet" for owner in owners)
