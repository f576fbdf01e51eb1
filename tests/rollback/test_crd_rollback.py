"""Rollback and offboarding on the CRD backend: exactly our IAMIdentityMapping objects go (or get their
recorded state back), kOps' `iam-identity-mapping-<n>` and everyone else's stay. The seeded CRD needs the
real control plane, so these clusters ask for it whatever `--kube` says."""

from typing import Any

from kops_lambda.logic.cluster.rest import KubeRest
from tests.cluster.conftest import Cluster, MakeCluster

from .test_cluster_rollback import baseline_of, map_identity, offboard, our_rbac, record_of, rollback

CRD_SPEC = "kops=1.22,auth=crd"
MAPPINGS = "/apis/iamauthenticator.k8s.aws/v1alpha1/iamidentitymappings"
OURS = ("kops-onboard-cast-service", "kops-onboard-spot-drainer")


def identity_mappings(cluster: Cluster) -> dict[str, dict[str, Any]]:
    listed = KubeRest(cluster.api).get(MAPPINGS)
    assert listed is not None
    return {item["metadata"]["name"]: item for item in listed["items"]}


def change_groups(cluster: Cluster, name: str, groups: list[str]) -> None:
    rest = KubeRest(cluster.api)
    current = rest.get(f"{MAPPINGS}/{name}")
    assert current is not None
    current["spec"]["groups"] = groups
    rest.replace(f"{MAPPINGS}/{name}", current)


def test_rollback_removes_our_objects_and_leaves_kops_ones(make_cluster: MakeCluster) -> None:
    # Given a CRD-backend cluster, its baseline (kOps' objects only) and MapIdentity's write
    cluster = make_cluster(CRD_SPEC, kube="real")
    before = identity_mappings(cluster)
    baseline = baseline_of(cluster)
    outcome = map_identity(cluster)
    assert set(OURS) <= set(identity_mappings(cluster))
    # When the rollback runs with the registry's record of that write
    summary = rollback(cluster, baseline, record_of(outcome))
    # Then the objects are exactly those of before (kOps' at their resourceVersion), our RBAC is gone
    assert identity_mappings(cluster) == before
    assert {f"IAMIdentityMapping {name}" for name in OURS} <= set(summary.removed)
    assert our_rbac(cluster) == []


def test_rollback_puts_back_the_recorded_state_of_an_object_that_existed(make_cluster: MakeCluster) -> None:
    # Given our objects from an earlier onboarding, one of them since edited by hand, then the baseline
    cluster = make_cluster(CRD_SPEC, kube="real")
    map_identity(cluster)
    change_groups(cluster, "kops-onboard-cast-service", ["edited-by-hand"])
    edited = identity_mappings(cluster)["kops-onboard-cast-service"]
    baseline = baseline_of(cluster)
    # And this execution's MapIdentity repairing it
    outcome = map_identity(cluster)
    assert identity_mappings(cluster)["kops-onboard-cast-service"]["spec"]["groups"] == ["kops-onboard:cast-service"]
    # When the rollback runs
    summary = rollback(cluster, baseline, record_of(outcome))
    # Then the object is back as the registry recorded it before our write, not deleted
    after = identity_mappings(cluster)["kops-onboard-cast-service"]
    assert after["spec"] == edited["spec"]
    assert after["metadata"]["labels"] == edited["metadata"]["labels"]
    assert "IAMIdentityMapping kops-onboard-cast-service (labels and spec from the backup)" in summary.restored
    # And the other object, which the baseline had as it is, was left alone
    assert "kops-onboard-spot-drainer" in identity_mappings(cluster)


def test_rollback_keeps_an_existing_object_someone_changed_after_our_write(make_cluster: MakeCluster) -> None:
    # Given an existing object of ours that we repaired, then someone else changed again
    cluster = make_cluster(CRD_SPEC, kube="real")
    map_identity(cluster)
    change_groups(cluster, "kops-onboard-cast-service", ["edited-by-hand"])
    baseline = baseline_of(cluster)
    outcome = map_identity(cluster)
    change_groups(cluster, "kops-onboard-cast-service", ["changed-after-us"])
    # When the rollback runs
    summary = rollback(cluster, baseline, record_of(outcome))
    # Then their change stays and the report says why
    assert identity_mappings(cluster)["kops-onboard-cast-service"]["spec"]["groups"] == ["changed-after-us"]
    assert any("changed after our write" in line for line in summary.kept)


def test_offboarding_removes_exactly_our_objects(make_cluster: MakeCluster) -> None:
    # Given an onboarded CRD-backend cluster with kOps' objects and one more of someone else's
    cluster = make_cluster(CRD_SPEC, kube="real")
    map_identity(cluster)
    other = {
        "apiVersion": "iamauthenticator.k8s.aws/v1alpha1",
        "kind": "IAMIdentityMapping",
        "metadata": {"name": "platform-team"},
        "spec": {"arn": f"arn:aws:iam::{cluster.account}:role/platform", "username": "platform", "groups": []},
    }
    KubeRest(cluster.api).create(MAPPINGS, other)
    others_before = {n: o for n, o in identity_mappings(cluster).items() if n not in OURS}
    assert {"iam-identity-mapping-0", "iam-identity-mapping-1", "platform-team"} <= set(others_before)
    # When the cluster is offboarded
    summary = offboard(cluster)
    # Then ours are gone, every other object is as it was, and so is our RBAC
    assert identity_mappings(cluster) == others_before
    assert {f"IAMIdentityMapping {name}" for name in OURS} <= set(summary.removed)
    assert our_rbac(cluster) == []
    # And a second offboarding finds nothing more to remove
    assert not [line for line in offboard(cluster).removed if "IAMIdentityMapping" in line]
