"""One entry point per cleanup state: what to remove, from the baseline (rollback) or from the cluster's
registry record and our names (offboarding). Handlers call these with the client factory and the table."""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from kops_lambda.adapters.aws import resource
from kops_lambda.errors import ClusterNotFound, InvalidInput
from kops_lambda.logic.cluster.access import cluster_api
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.lease import acquire_cluster_lease, release_cluster_lease
from kops_lambda.logic.registry import get_cluster
from kops_lambda.logic.registry import rollback as registry
from kops_lambda.logic.rollback import agent, credentials, drainer, iam, identity_mapping, vendor_identity
from kops_lambda.logic.rollback.baseline import discard_baseline, load_baseline
from kops_lambda.logic.rollback.report import plain
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.registry import RegisteredCluster
from kops_lambda.models.rollback import (
    Baseline,
    CleanupRequest,
    CleanupSummary,
    OffboardInput,
)
from kops_lambda.models.steps import parse_model
from kops_lambda.workflow import INPUT_KEY, ResultKey

ClientFactory = Callable[..., Any]


def registry_table(name: str) -> Any:
    """The registry Table, built once per container (a boto3 resource loads its models for ~0.1 s). Keyed
    by the endpoint too: a process that outlives a local endpoint (tests) must not keep its clients."""
    return _table(name, os.environ.get("AWS_ENDPOINT_URL", ""))


@lru_cache(maxsize=4)
def _table(name: str, _endpoint: str) -> Any:
    return resource("dynamodb").Table(name)


NO_BASELINE = CleanupSummary(kept=["nothing to undo: this execution recorded no baseline (it failed before)"])


def expect(request: CleanupRequest, *actions: str) -> None:
    if request.action not in actions:
        raise InvalidInput(f"invalid input: action: this step does {', '.join(actions)}, not {request.action}")


def offboard_input(request: CleanupRequest) -> OffboardInput:
    return parse_model(OffboardInput, request.state.get(INPUT_KEY))


def registered_cluster(request: CleanupRequest) -> RegisteredCluster:
    return parse_model(RegisteredCluster, request.state.get(ResultKey.CLUSTER))


def _baseline(table: Any, request: CleanupRequest) -> Baseline | None:
    return load_baseline(table, request.execution_id)


@contextmanager
def _cluster(client: ClientFactory, kubeconfig_secret_arn: str) -> Iterator[KubeRest]:
    with cluster_api(client("secretsmanager"), kubeconfig_secret_arn) as api:
        yield KubeRest(api)


def access_key(request: CleanupRequest, *, client: ClientFactory, table: Any) -> CleanupSummary:
    expect(request, "rollback", "offboard")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        return credentials.rollback_access_key(client("iam"), client("secretsmanager"), baseline)
    options, cluster = offboard_input(request), registered_cluster(request)
    return credentials.offboard_access_key(
        client("iam"),
        client("secretsmanager"),
        cluster_name=cluster.cluster_name,
        recovery_days=options.secret_recovery_days,
    )


def key_pair(request: CleanupRequest, *, client: ClientFactory, table: Any) -> CleanupSummary:
    expect(request, "rollback", "offboard")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        return credentials.rollback_key_pair(client("ec2", baseline.region), client("secretsmanager"), baseline)
    options, cluster = offboard_input(request), registered_cluster(request)
    return credentials.offboard_key_pair(
        client("ec2", cluster.region),
        client("secretsmanager"),
        cluster_name=cluster.cluster_name,
        recovery_days=options.secret_recovery_days,
    )


def iam_entities(
    request: CleanupRequest, *, client: ClientFactory, table: Any, partition: str, account: str
) -> CleanupSummary:
    expect(request, "rollback", "offboard", "offboard-shared")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        return iam.rollback_iam(client("iam"), table, baseline)
    cluster = registered_cluster(request)
    if request.action == "offboard-shared":
        return iam.offboard_shared(
            client("iam"), table, own_key=cluster.cluster_key, partition=partition, account=account
        )
    return iam.offboard_user(client("iam"), cluster_name=cluster.cluster_name)


def _skipped(request: CleanupRequest) -> CleanupSummary | None:
    cluster = registered_cluster(request)
    if offboard_input(request).skip_cluster_cleanup:
        return CleanupSummary(kept=["in-cluster objects: skipped on request (skip_cluster_cleanup)"])
    if not cluster.kubeconfig_secret_arn:
        return CleanupSummary(kept=["in-cluster objects: the registry records no kubeconfig secret"])
    return None


def identity_mappings(
    request: CleanupRequest,
    *,
    client: ClientFactory,
    table: Any,
    partition: str,
    account: str,
    spot_role_arn: str | None,
) -> CleanupSummary:
    expect(request, "rollback", "offboard")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        item = get_cluster(table, region=baseline.region, cluster_name=baseline.cluster_name) or {}
        record = plain((item.get("resources") or {}).get("identity_mapping"))
        with _cluster(client, baseline.kubeconfig_secret_arn) as rest:
            return vendor_identity.merged(
                vendor_identity.rollback_vendor_objects(rest, baseline),
                identity_mapping.rollback_identity_mapping(rest, baseline, record=record, spot_role_arn=spot_role_arn),
                vendor_identity.rollback_vendor_kubeconfig(client("secretsmanager"), baseline),
            )
    cluster = registered_cluster(request)
    in_cluster = _skipped(request)
    if in_cluster is None:
        name = user_name(cluster.cluster_name)
        assert cluster.kubeconfig_secret_arn is not None  # checked by _skipped
        with _cluster(client, cluster.kubeconfig_secret_arn) as rest:
            in_cluster = vendor_identity.merged(
                vendor_identity.offboard_vendor_objects(rest, cluster.cluster_name),
                identity_mapping.offboard_identity_mapping(
                    rest,
                    user_arn=f"arn:{partition}:iam::{account}:user/{name}",
                    user_name=name,
                    spot_role_arn=spot_role_arn,
                ),
            )
    # The vendor's kubeconfig is in the account: it goes even when the cluster is skipped.
    return vendor_identity.merged(
        in_cluster,
        vendor_identity.offboard_vendor_kubeconfig(
            client("secretsmanager"),
            cluster_name=cluster.cluster_name,
            recovery_days=offboard_input(request).secret_recovery_days,
        ),
    )


def drainer_credential(request: CleanupRequest, *, client: ClientFactory, table: Any) -> CleanupSummary:
    expect(request, "rollback", "offboard")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        with _cluster(client, baseline.kubeconfig_secret_arn) as rest:
            return drainer.rollback_drainer(rest, client("secretsmanager"), baseline)
    options, cluster = offboard_input(request), registered_cluster(request)
    skipped = _skipped(request)
    if skipped is not None or cluster.kubeconfig_secret_arn is None:
        return drainer.offboard_drainer(
            None,
            client("secretsmanager"),
            cluster_name=cluster.cluster_name,
            recovery_days=options.secret_recovery_days,
            kept=skipped.kept if skipped else [],
        )
    with _cluster(client, cluster.kubeconfig_secret_arn) as rest:
        return drainer.offboard_drainer(
            rest,
            client("secretsmanager"),
            cluster_name=cluster.cluster_name,
            recovery_days=options.secret_recovery_days,
            kept=[],
        )


def agent_objects(request: CleanupRequest, *, client: ClientFactory, table: Any) -> CleanupSummary:
    expect(request, "rollback", "offboard")
    if request.action == "rollback":
        baseline = _baseline(table, request)
        if baseline is None:
            return NO_BASELINE
        with _cluster(client, baseline.kubeconfig_secret_arn) as rest:
            return agent.rollback_agent(rest, baseline)
    skipped = _skipped(request)
    if skipped is not None:
        return skipped
    cluster = registered_cluster(request)
    assert cluster.kubeconfig_secret_arn is not None  # checked by _skipped
    with _cluster(client, cluster.kubeconfig_secret_arn) as rest:
        return agent.offboard_agent(rest)


def registry_record(request: CleanupRequest, *, table: Any, stepfunctions: Any, default_region: str) -> dict[str, Any]:
    """Rollback: the registry as the baseline saw it. Success: the baseline discarded. Both give the
    cluster's lease back. Offboarding: take the lease and find the cluster, or record it gone and give the
    lease back."""
    expect(request, "rollback", "discard", "find", "offboard")
    if request.action in ("rollback", "discard"):
        if request.action == "rollback":
            result = registry.rollback_registry(table, execution_id=request.execution_id).model_dump(mode="json")
        else:
            discard_baseline(table, request.execution_id)
            result = {"baseline_discarded": True}
        onboarding = _onboarding_cluster(request, default_region)
        if onboarding is not None:  # an input that did not parse took no lease
            region, cluster_name = onboarding
            release_cluster_lease(table, region=region, cluster_name=cluster_name, owner=request.execution_id)
        return result
    options = offboard_input(request)
    region = options.region or default_region
    if request.action == "find":
        acquire_cluster_lease(
            table, stepfunctions, region=region, cluster_name=options.cluster_name, owner=request.execution_id
        )
        try:
            found = registry.find_cluster(table, region=region, cluster_name=options.cluster_name)
        except ClusterNotFound:
            release_cluster_lease(table, region=region, cluster_name=options.cluster_name, owner=request.execution_id)
            raise
        return found.model_dump(mode="json")
    summary = registry.record_offboarded(table, cluster=registered_cluster(request), execution_id=request.execution_id)
    release_cluster_lease(table, region=region, cluster_name=options.cluster_name, owner=request.execution_id)
    return summary.model_dump(mode="json")


def _onboarding_cluster(request: CleanupRequest, default_region: str) -> tuple[str, str] | None:
    try:
        onboard = parse_model(OnboardInput, request.state.get(INPUT_KEY))
    except InvalidInput:
        return None
    return onboard.region or default_region, onboard.cluster_name
