"""The plan of MapIdentity on the CRD backend (the real control plane serves the IAMIdentityMapping CRD): our
objects to create, then unchanged after MapIdentity, and another owner's object mapping our ARN a refusal with
onboarding's error; the plan reads only."""

from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.plan import identity_mapping_plan

from .conftest import STATE_STORE, Cluster, MakeCluster, aws_client
from .test_identity_mapping import map_identity
from .test_identity_mapping_crd import CRD_SPEC, OURS, create_mapping, identity_mappings


def _plan(cluster: Cluster) -> tuple[str | None, dict[str, tuple[str, str | None]]]:
    before = identity_mappings(cluster)
    backend, planned = identity_mapping_plan(
        KubeRest(cluster.api),
        cluster_name=cluster.name,
        user_arn=cluster.user_arn,
        user=cluster.user_name,
        spot_role_arn=cluster.spot_role_arn,
        kops_spec=read_kops_spec(aws_client("s3"), STATE_STORE, cluster.name),
    )
    assert identity_mappings(cluster) == before, "the plan wrote"
    assert not [r for r in cluster.kube.requests if r.method != "GET"], "the plan sent a write"
    return backend, {r.name: (r.action, r.reason) for r in planned}


def test_crd_plan_creates_our_mappings_then_finds_them_unchanged(make_cluster: MakeCluster) -> None:
    # Given a CRD-backend cluster never onboarded
    cluster = make_cluster(CRD_SPEC, kube="real")
    # When MapIdentity is planned, Then both our objects are to be created
    backend, planned = _plan(cluster)
    assert backend == "CRD"
    assert planned == {name: ("create", None) for name in OURS}
    # And after MapIdentity ran, a plan finds them in place
    map_identity(cluster)
    cluster.kube.clear_requests()
    assert _plan(cluster)[1] == {name: ("unchanged", None) for name in OURS}


def test_crd_plan_refuses_with_onboardings_error_when_another_object_maps_our_arn(make_cluster: MakeCluster) -> None:
    # Given kOps' own mapping of our user's ARN under another name
    cluster = make_cluster(CRD_SPEC, kube="real")
    create_mapping(cluster, "someone-elses", {"arn": cluster.user_arn, "username": "x", "groups": ["system:masters"]})
    # When MapIdentity is planned, Then it is refused with the error MapIdentity would raise
    _, planned = _plan(cluster)
    assert {action for action, _ in planned.values()} == {"refuse"}
    assert all(str(reason).startswith("ConflictingIdentityMapping: ") for _, reason in planned.values())
