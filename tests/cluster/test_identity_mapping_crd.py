"""MapIdentity on the CRD backend of aws-iam-authenticator: our IAMIdentityMapping objects beside kOps' own.

A cluster seeded with auth=crd holds the IAMIdentityMapping CustomResourceDefinition, which only a real API
server serves: those tests ask for the real control plane (`kube="real"`) whatever `--kube` says.
"""

from typing import Any

import pytest

from kops_lambda.errors import (
    ConflictingIdentityMapping,
    ForeignEntity,
    IdentityMappingCrdMissing,
    UnsupportedAuthBackend,
)
from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.models.cluster import IdentityMappingOutcome

from .conftest import STATE_STORE, Cluster, MakeCluster, aws_client
from .test_identity_mapping import AUTH_DS, map_identity

CRD_SPEC = "kops=1.22,auth=crd"
DISCOVERY = "/apis/iamauthenticator.k8s.aws/v1alpha1"
MAPPINGS = f"{DISCOVERY}/iamidentitymappings"
OURS = ("kops-onboard-cast-service", "kops-onboard-spot-drainer")
KOPS_OWN = ("iam-identity-mapping-0", "iam-identity-mapping-1")


def identity_mappings(cluster: Cluster) -> dict[str, dict[str, Any]]:
    listed = KubeRest(cluster.api).get(MAPPINGS)
    assert listed is not None
    return {item["metadata"]["name"]: item for item in listed["items"]}


def with_backend_mode(cluster: Cluster, modes: str) -> None:
    def change(ds: dict[str, Any]) -> None:
        container = ds["spec"]["template"]["spec"]["containers"][0]
        args = [a for a in container["args"] if not a.startswith("--backend-mode")]
        container["args"] = [*args, f"--backend-mode={modes}"]

    cluster.kube.store.mutate(*AUTH_DS, change)
    cluster.kube.clear_requests()


def create_mapping(cluster: Cluster, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> None:
    body = {
        "apiVersion": "iamauthenticator.k8s.aws/v1alpha1",
        "kind": "IAMIdentityMapping",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }
    KubeRest(cluster.api).create(MAPPINGS, body)
    cluster.kube.clear_requests()


def test_a_seeded_crd_cluster_serves_the_crd_with_kops_own_mappings(make_cluster: MakeCluster) -> None:
    # Given a cluster seeded with auth=crd on the real API server
    cluster = make_cluster(CRD_SPEC, kube="real")
    # Then the CRD is the authenticator's (cluster-scoped, v1alpha1, spec arn/username/groups) with kOps' labels
    crd = KubeRest(cluster.api).get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/iamidentitymappings.iamauthenticator.k8s.aws"
    )
    assert crd is not None
    assert (crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == ("Cluster", "IAMIdentityMapping")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert (set(schema["properties"]), schema["required"]) == ({"arn", "username", "groups"}, ["arn", "username"])
    assert crd["metadata"]["labels"]["addon.kops.k8s.io/name"] == "authentication.aws"
    # And kOps' objects are the state store's identityMappings, in order, named iam-identity-mapping-<n>
    spec = read_kops_spec(aws_client("s3"), STATE_STORE, cluster.name)
    assert spec is not None
    wanted = spec["spec"]["authentication"]["aws"]["identityMappings"]
    found = identity_mappings(cluster)
    assert [found[name]["spec"] for name in KOPS_OWN] == wanted
    assert {found[name]["metadata"]["labels"]["app.kubernetes.io/managed-by"] for name in KOPS_OWN} == {"kops"}
    # And the authenticator reads the CRD only; there is no aws-auth
    args = cluster.object(*AUTH_DS)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--backend-mode=CRD" in args
    assert cluster.find("v1/configmaps", "kube-system", "aws-auth") is None


def test_the_crd_backend_gets_our_two_objects_and_kops_ones_stay_untouched(make_cluster: MakeCluster) -> None:
    # Given a kOps cluster whose authenticator reads IAMIdentityMapping objects, with kOps' own ones
    cluster = make_cluster(CRD_SPEC, kube="real")
    kops_before = {name: identity_mappings(cluster)[name] for name in KOPS_OWN}
    # When we map the IAM user and the Spot handler role
    outcome = map_identity(cluster)
    # Then two objects of ours carry the same usernames and groups as the ConfigMap backends write
    found = identity_mappings(cluster)
    assert found["kops-onboard-cast-service"]["spec"] == {
        "arn": cluster.user_arn,
        "username": f"kops-onboard:cast:{cluster.user_name}",
        "groups": ["kops-onboard:cast-service"],
    }
    assert found["kops-onboard-spot-drainer"]["spec"] == {
        "arn": cluster.spot_role_arn,
        "username": "kops-onboard:spot-drainer:{{SessionName}}",
        "groups": ["kops-onboard:spot-drainer"],
    }
    assert all(found[name]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kops-onboard" for name in OURS)
    # And kOps' objects are exactly as they were (same resourceVersion: never written)
    assert {name: found[name] for name in KOPS_OWN} == kops_before
    # And the result names the objects; no ConfigMap, no DaemonSet was written, the RBAC is there
    result = outcome.result
    assert (result.backend, result.configmap, result.resource_version) == ("CRD", None, None)
    assert [(o.name, o.status) for o in result.identity_mappings] == [(n, "created") for n in OURS]
    assert {m.status for m in result.mappings} == {"added"}
    assert not [w for w in cluster.writes() if "/configmaps/" in w.path or "/daemonsets/" in w.path]
    assert cluster.find("rbac.authorization.k8s.io/v1/clusterroles", None, "kops-onboard:cast-service") is not None
    # And the registry record says both objects did not exist before
    assert outcome.crd_backup is not None
    assert [(o.name, o.previous) for o in outcome.crd_backup.objects] == [(n, None) for n in OURS]
    assert "crd_backup" in outcome.registry_resources()["identity_mapping"]


def test_a_rerun_on_the_crd_backend_writes_nothing(make_cluster: MakeCluster) -> None:
    # Given a cluster already mapped on the CRD backend
    cluster = make_cluster(CRD_SPEC, kube="real")
    map_identity(cluster)
    cluster.kube.clear_requests()
    # When the step runs again
    outcome: IdentityMappingOutcome = map_identity(cluster)
    # Then it only read: no write at all, everything unchanged, no new registry record
    assert cluster.writes() == []
    assert {o.status for o in outcome.result.identity_mappings} == {"unchanged"}
    assert {m.status for m in outcome.result.mappings} == {"unchanged"}
    assert outcome.registry_resources() == {}


def test_a_drifted_object_of_ours_is_put_back_and_its_drifted_state_recorded(make_cluster: MakeCluster) -> None:
    # Given our user's object widened to system:masters by hand
    cluster = make_cluster(CRD_SPEC, kube="real")
    map_identity(cluster)
    rest = KubeRest(cluster.api)
    path = f"{MAPPINGS}/kops-onboard-cast-service"
    drifted = rest.get(path)
    assert drifted is not None
    drifted["spec"]["groups"] = ["system:masters"]
    rest.replace(path, drifted)
    cluster.kube.clear_requests()
    # When the step runs again
    outcome = map_identity(cluster)
    # Then the object has our groups again, in one write, and the other object was not written
    assert identity_mappings(cluster)["kops-onboard-cast-service"]["spec"]["groups"] == ["kops-onboard:cast-service"]
    assert [(w.method, w.path) for w in cluster.writes()] == [("PUT", path)]
    assert [o.status for o in outcome.result.identity_mappings] == ["updated", "unchanged"]
    # And the backup holds the drifted state, which is what rollback would put back
    assert outcome.crd_backup is not None
    [saved] = outcome.crd_backup.objects
    assert saved.previous is not None and saved.previous["spec"]["groups"] == ["system:masters"]


@pytest.mark.parametrize(
    ("modes", "written"),
    [("CRD,EKSConfigMap", "CRD"), ("EKSConfigMap,CRD", "EKSConfigMap")],
)
def test_with_several_backends_the_first_listed_one_is_written(
    make_cluster: MakeCluster, modes: str, written: str
) -> None:
    # Given an authenticator asking its backends in the listed order (the first that maps an ARN wins)
    cluster = make_cluster(CRD_SPEC, kube="real")
    with_backend_mode(cluster, modes)
    # When we map the identities
    outcome = map_identity(cluster)
    # Then only the first listed backend holds our mappings
    ours = [name for name in identity_mappings(cluster) if name in OURS]
    aws_auth = cluster.find("v1/configmaps", "kube-system", "aws-auth")
    assert outcome.result.backend == written
    if written == "CRD":
        assert ours == list(OURS)
        assert aws_auth is None
    else:
        assert ours == []
        assert aws_auth is not None and cluster.user_arn in aws_auth["data"]["mapUsers"]


def test_crd_listed_but_not_installed_says_so_and_writes_nothing(make_cluster: MakeCluster) -> None:
    # Given an authenticator set to the CRD backend on a cluster that does not serve the CRD
    cluster = make_cluster("kops=1.22", nodes=1)
    with_backend_mode(cluster, "CRD")
    # When / Then: the error names the missing CRD, and nothing was written
    with pytest.raises(IdentityMappingCrdMissing, match=r"iamidentitymappings\.iamauthenticator\.k8s\.aws"):
        map_identity(cluster)
    assert cluster.writes() == []


def test_a_control_plane_reused_after_a_crd_cluster_no_longer_serves_the_crd(make_cluster: MakeCluster) -> None:
    # Given a CRD-backend cluster whose control plane goes back to the pool when it stops
    crd_cluster = make_cluster(CRD_SPEC, kube="real")
    assert KubeRest(crd_cluster.api).get(DISCOVERY) is not None
    crd_cluster.api.close()
    crd_cluster.kube.stop()
    # When the next cluster is made (on that reset control plane, the pool's latest)
    cluster = make_cluster("kops=1.22", nodes=1, kube="real")
    # Then the CRD is not served there, so a CRD-only authenticator gets the typed error
    assert KubeRest(cluster.api).get(DISCOVERY) is None
    with_backend_mode(cluster, "CRD")
    with pytest.raises(IdentityMappingCrdMissing):
        map_identity(cluster)


def test_a_dynamic_file_only_authenticator_is_reported_unsupported(make_cluster: MakeCluster) -> None:
    # Given an authenticator reading a file on the masters only (out of the API's reach)
    cluster = make_cluster("kops=1.22", nodes=1)
    with_backend_mode(cluster, "DynamicFile")
    # When / Then
    with pytest.raises(UnsupportedAuthBackend, match="CRD"):
        map_identity(cluster)
    assert cluster.writes() == []


@pytest.mark.parametrize("case", ["kops-maps-our-arn", "our-name-not-labelled"])
def test_someone_elses_mapping_in_our_way_fails_and_writes_nothing(make_cluster: MakeCluster, case: str) -> None:
    # Given an IAMIdentityMapping of another owner mapping our user's ARN, or holding our object's name
    cluster = make_cluster(CRD_SPEC, kube="real")
    spec = {"arn": cluster.user_arn, "username": "someone", "groups": ["viewers"]}
    if case == "kops-maps-our-arn":
        create_mapping(cluster, "iam-identity-mapping-7", spec, {"app.kubernetes.io/managed-by": "kops"})
        expected: type[Exception] = ConflictingIdentityMapping
    else:
        create_mapping(cluster, "kops-onboard-cast-service", spec)
        expected = ForeignEntity
    before = identity_mappings(cluster)
    # When / Then: a typed error, and not a single write
    with pytest.raises(expected):
        map_identity(cluster)
    assert cluster.writes() == []
    assert identity_mappings(cluster) == before
