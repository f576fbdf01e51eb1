"""Chaos, end to end and bounded in time: the cluster's API server failing, stalling or resetting
connections while MapIdentity works on it and while a Spot drain evicts, IAM and Secrets Manager throttling
through whole onboardings and offboardings. Every case converges: the workflow succeeds (or fails cleanly,
rolled back, and a rerun succeeds), nothing half-made remains, the one access key is the stored one, and
the registry tells the truth (see test_concurrency for lease races and test_stopped_onboarding for
StopExecution at each state and a timed-out execution)."""

import json
from typing import Any

import pytest

from kops_lambda.logic.iam_names import user_name
from kops_local.seed import ClusterSpec, SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import start_execution, wait_for_execution
from tests.e2e import spot_support as support
from tests.e2e.test_concurrency import assert_consistent, mapped_identities
from tests.rollback.account_state import assert_same, system_state

RESET = None  # a fault "status" of None: the connection is reset, no HTTP response

# status, times, delay: errors, slow answers and connection resets of the API server (429, 5xx and
# transport failures are KubeApiUnavailable, retried by the workflow; the delays stay inside the client's
# read timeout)
API_SERVER_FAULTS = [
    pytest.param(500, 3, 0.0, id="500"),
    pytest.param(429, 3, 0.0, id="429"),
    pytest.param(503, 2, 0.0, id="503"),
    pytest.param(504, 2, 2.0, id="stall-then-504"),
    pytest.param(RESET, 3, 0.0, id="reset"),
    pytest.param(RESET, 2, 2.0, id="stall-then-reset"),
]
# What the client sees of a reset: RST on plain TCP, the connection closed under TLS (the emulator's).
RESET_CAUSES = ("reset the connection before answering", "closed the connection before answering")


def inject(
    cluster: LocalCluster, *, method: str, path_pattern: str, status: int | None, times: int, delay: float = 0.0
) -> None:
    if status is RESET:
        cluster.api_server.inject_connection_reset(method=method, path_pattern=path_pattern, times=times, delay=delay)
    else:
        cluster.api_server.inject_fault(
            method=method, path_pattern=path_pattern, status=status, times=times, delay=delay
        )


def answers(requests: list[Any]) -> list[tuple[int | None, bool]]:
    """(status, reset) of each journaled request."""
    return [(request.status, request.reset) for request in requests]


def attempts(system: LocalSystem, state_name: str, error: str) -> int:
    """How many times the deployed onboarding runs `state_name` when it keeps failing with `error`."""
    sfn = system.aws.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=system.state_machines["onboard"])["definition"])
    retriers = definition["States"][state_name]["Retry"]
    return 1 + next(int(retrier["MaxAttempts"]) for retrier in retriers if error in retrier["ErrorEquals"])


def run(system: LocalSystem, cluster: LocalCluster, kind: str) -> Any:
    payload = cluster.onboard_input() if kind == "onboard" else cluster.offboard_input(secret_recovery_days=0)
    sfn = system.aws.client("stepfunctions")
    return wait_for_execution(
        sfn, start_execution(sfn, system.state_machines[kind], payload, name_prefix=kind), timeout=180
    )


@pytest.mark.parametrize(("status", "times", "delay"), API_SERVER_FAULTS)
def test_api_server_failures_during_map_identity_are_retried_and_the_onboarding_converges(
    local_system: LocalSystem, status: int | None, times: int, delay: float
) -> None:
    label = "reset" if status is RESET else status
    cluster = local_system.add_cluster(ClusterSpec.parse(f"chaos-map-{label}-{times}.k8s.local:kops=1.21,nodes=1"))
    sfn = local_system.aws.client("stepfunctions")
    # Given an onboarding that has reached MapIdentity, and an API server that fails its next requests
    with local_system.aws.hold_lambda("OnboardingMapIdentityFunction") as hold:
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="c"
        )
        assert hold.reached.wait(timeout=60)
        cluster.api_server.clear_requests()
        inject(cluster, method="*", path_pattern="/", status=status, times=times, delay=delay)
    # When it goes on, Then it succeeds, the faults spent on MapIdentity, and the account and the cluster agree
    result = wait_for_execution(sfn, execution, timeout=180)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert answers(cluster.api_server.requests[:times]) == [(status, status is RESET)] * times
    assert_consistent(local_system, cluster)
    assert run(local_system, cluster, "offboard").status == "SUCCEEDED"
    assert_consistent(local_system, cluster)


def test_connection_resets_outlasting_map_identity_retries_fail_it_cleanly_and_a_rerun_converges(
    local_system: LocalSystem,
) -> None:
    cluster = local_system.add_cluster(ClusterSpec.parse("chaos-map-resets.k8s.local:kops=1.21,nodes=1"))
    sfn = local_system.aws.client("stepfunctions")
    before = system_state(local_system)
    tries = attempts(local_system, "MapIdentity", "KubeApiUnavailable")
    # Given an onboarding at MapIdentity, and an API server that resets the first request of every try
    with local_system.aws.hold_lambda("OnboardingMapIdentityFunction") as hold:
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="c"
        )
        assert hold.reached.wait(timeout=60)
        cluster.api_server.clear_requests()
        cluster.api_server.inject_connection_reset(method="*", path_pattern="/", times=tries)
    # When it goes on, Then it fails with the typed error, saying what happened in words
    result = wait_for_execution(sfn, execution, timeout=180)
    assert (result.status, result.error) == ("FAILED", "KubeApiUnavailable"), (result.error, result.cause)
    assert result.cause is not None and any(words in result.cause for words in RESET_CAUSES), result.cause
    assert "Traceback" not in result.cause and "MaxRetryError" not in result.cause, result.cause
    # And every try was reset (no half-applied write), the rollback was served, and nothing is left
    assert answers(cluster.api_server.requests[:tries]) == [(RESET, True)] * tries
    assert all(request.status is not None for request in cluster.api_server.requests[tries:])
    assert_same(before, system_state(local_system))
    assert_consistent(local_system, cluster)
    # And a rerun onboards, then offboards
    for kind in ("onboard", "offboard"):
        rerun = run(local_system, cluster, kind)
        assert rerun.status == "SUCCEEDED", (kind, rerun.error, rerun.cause)
        assert_consistent(local_system, cluster)


def test_connection_resets_after_map_identity_writes_were_applied_are_retried_and_the_onboarding_converges(
    local_system: LocalSystem,
) -> None:
    cluster = local_system.add_cluster(ClusterSpec.parse("chaos-map-lost-answers.k8s.local:kops=1.21,nodes=1"))
    sfn = local_system.aws.client("stepfunctions")
    # Given an onboarding at MapIdentity, and an API server whose next writes are made but never answered
    # (the connection reset once the change is stored)
    with local_system.aws.hold_lambda("OnboardingMapIdentityFunction") as hold:
        execution = start_execution(
            sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="c"
        )
        assert hold.reached.wait(timeout=60)
        cluster.api_server.clear_requests()
        for method in ("POST", "PUT", "PATCH"):
            cluster.api_server.inject_connection_reset(method=method, path_pattern="/", after_processing=True)
    # When it goes on, Then the retried steps find their own changes and succeed, with nothing duplicated
    result = wait_for_execution(sfn, execution, timeout=180)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    lost = [r for r in cluster.api_server.requests if r.reset]
    assert lost and all(r.status is not None and r.status < 300 for r in lost), answers(lost)
    assert mapped_identities(cluster).count(f"user/{user_name(cluster.name)}") == 1
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


@pytest.mark.parametrize(
    ("status", "times"),
    [pytest.param(500, 3, id="500"), pytest.param(429, 4, id="429"), pytest.param(RESET, 3, id="reset")],
)
def test_api_server_failures_during_a_drain_are_retried_until_the_node_is_drained(
    local_system: LocalSystem, status: int | None, times: int
) -> None:
    # Given an onboarded cluster whose API server fails the next evictions
    label = "reset" if status is RESET else status
    cluster = support.onboard(local_system, f"chaos-drain-{label}.k8s.local:kops=1.21,nodes=2,pods=4,naming=id")
    spot = support.spot_workers(cluster)[0]
    workloads = _workload_names(cluster, spot)
    cluster.api_server.clear_requests()
    inject(cluster, method="POST", path_pattern="/eviction$", status=status, times=times)
    # When the Spot warning arrives
    support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=90)
    # Then the failed evictions were retried and the node is drained all the same, every pod evicted
    evictions = [r for r in cluster.api_server.requests if r.path.endswith("/eviction")]
    assert answers(evictions[:times]) == [(status, status is RESET)] * times, answers(evictions)
    _assert_drained_without_loss(cluster, spot, workloads)


@pytest.mark.usefixtures("short_visibility")
def test_connection_resets_before_a_drain_fail_the_record_which_sqs_redelivers_until_the_node_is_drained(
    local_system: LocalSystem,
) -> None:
    # Given an onboarded cluster whose API server resets the next two reads of its nodes (how the handler
    # finds the instance's node)
    cluster = support.onboard(local_system, "chaos-drain-sqs.k8s.local:kops=1.21,nodes=2,pods=4,naming=id")
    spot = support.spot_workers(cluster)[0]
    workloads = _workload_names(cluster, spot)
    cluster.api_server.clear_requests()
    cluster.api_server.inject_connection_reset(method="GET", path_pattern="^/api/v1/nodes", times=2)
    # When the Spot warning arrives
    support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=90)
    # Then the record failed twice with an error that says what happened, came back from the queue, and the
    # third delivery drained the node, every pod evicted
    assert [r.reset for r in cluster.api_server.requests[:2]] == [True, True]
    failures = [
        line for line in local_system.aws.captured_logs if "KubeApiUnavailable" in line and spot.instance_id in line
    ]
    assert len(failures) == 2, failures
    assert all(any(words in line for words in RESET_CAUSES) for line in failures), failures
    _assert_drained_without_loss(cluster, spot, workloads)


def _workload_names(cluster: LocalCluster, spot: SeededInstance) -> set[str]:
    names = {p["metadata"]["name"] for p in support.pods_on(cluster, spot) if not _kept_by_design(p)}
    assert names, "the node runs no workload to drain"
    return names


def _assert_drained_without_loss(cluster: LocalCluster, spot: SeededInstance, workloads: set[str]) -> None:
    """The drain completed, and every workload pod left through an accepted eviction (none deleted)."""
    reasons = [event["reason"] for event in support.node_events(cluster, spot)]
    assert "DrainComplete" in reasons, reasons
    left = [p for p in support.pods_on(cluster, spot) if not _kept_by_design(p)]
    assert left == [], [p["metadata"]["name"] for p in left]
    requests = cluster.api_server.requests
    evicted = {r.path.split("/")[-2] for r in requests if r.path.endswith("/eviction") and r.status == 201}
    assert evicted == workloads, (evicted, workloads)
    deleted = [r.path for r in requests if r.method == "DELETE" and "/pods/" in r.path]
    assert deleted == [], deleted


def _kept_by_design(pod: dict[str, Any]) -> bool:
    """DaemonSet and mirror pods stay on a drained node."""
    owners = pod["metadata"].get("ownerReferences") or []
    mirror = "kubernetes.io/config.mirror" in (pod["metadata"].get("annotations") or {})
    return mirror or any(owner["kind"] == "DaemonSet" for owner in owners)
