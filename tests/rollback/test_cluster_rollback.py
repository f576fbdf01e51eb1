"""In-cluster rollback and offboarding on seeded clusters: the authenticator's ConfigMaps come back byte for
byte, only our entries are touched after someone else wrote, our RBAC and the agent's objects go, and
what existed before stays."""

from typing import Any

import pytest

from kops_lambda.logic.cluster.agent import install_agent
from kops_lambda.logic.cluster.identity_mapping import config_hash, ensure_identity_mapping
from kops_lambda.logic.cluster.kube_router import ensure_kube_router_tolerations
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.rollback.agent import offboard_agent, rollback_agent
from kops_lambda.logic.rollback.cluster_state import snapshot_cluster
from kops_lambda.logic.rollback.identity_mapping import offboard_identity_mapping, rollback_identity_mapping
from kops_lambda.models.cluster import IdentityMappingOutcome
from kops_lambda.models.rollback import AwsBaseline, Baseline, SecretSnapshot
from tests.cluster.conftest import REGION, Cluster, MakeCluster, aws_client

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:onboarding:run-1"
AUTH_DS = ("apps/v1/daemonsets", "kube-system", "aws-iam-authenticator")
OUR_ANNOTATIONS = ("kops-onboard.io/restartedAt", "kops-onboard.io/authenticator-config-sha256")


def baseline_of(cluster: Cluster) -> Baseline:
    return Baseline(
        execution_id=EXECUTION,
        cluster_key=f"{REGION}#{cluster.name}",
        cluster_name=cluster.name,
        region=REGION,
        kubeconfig_secret_arn=cluster.kubeconfig_secret_arn,
        taken_at="2026-11-25T00:00:00+00:00",
        registry_item=None,
        aws=AwsBaseline(
            partition="aws",
            account=cluster.account,
            user_name=cluster.user_name,
            user_arn=cluster.user_arn,
            user=None,
            shared_policy_arn=f"arn:aws:iam::{cluster.account}:policy/CASTKopsPolicyV2",
            shared_policy=None,
            spot_role=None,
            key_pair_name=cluster.user_name,
            key_pair_id=None,
            access_key_secret=SecretSnapshot(name="access-key", exists=False),
            private_key_secret=SecretSnapshot(name="ssh-private-key", exists=False),
        ),
        cluster=snapshot_cluster(KubeRest(cluster.api)),
    )


def map_identity(cluster: Cluster) -> IdentityMappingOutcome:
    return ensure_identity_mapping(
        cluster.api,
        cluster_name=cluster.name,
        user_arn=cluster.user_arn,
        user_name=cluster.user_name,
        spot_role_arn=cluster.spot_role_arn,
    )


def record_of(outcome: IdentityMappingOutcome) -> dict[str, Any]:
    return {**outcome.registry_resources()["identity_mapping"], "execution_id": EXECUTION}


def rollback(cluster: Cluster, baseline: Baseline, record: dict[str, Any] | None) -> Any:
    return rollback_identity_mapping(
        KubeRest(cluster.api), baseline, record=record, spot_role_arn=cluster.spot_role_arn
    )


def offboard(cluster: Cluster) -> Any:
    return offboard_identity_mapping(
        KubeRest(cluster.api),
        user_arn=cluster.user_arn,
        user_name=cluster.user_name,
        spot_role_arn=cluster.spot_role_arn,
    )


def our_rbac(cluster: Cluster) -> list[str]:
    return [
        o["metadata"]["name"]
        for plural in ("clusterroles", "clusterrolebindings")
        for o in cluster.kube.store.list(plural)
        if o["metadata"]["name"].startswith("kops-onboard:")
    ]


def annotations(cluster: Cluster) -> dict[str, str]:
    template = cluster.object(*AUTH_DS)["spec"]["template"]
    found = template.get("metadata", {}).get("annotations") or {}
    return {k: v for k, v in found.items() if k in OUR_ANNOTATIONS}


# ---- Rollback of MapIdentity ----


@pytest.mark.parametrize(("spec", "configmap"), [("kops=1.21", "aws-auth"), ("kops=1.17", "aws-iam-authenticator")])
def test_the_backup_comes_back_when_the_configmap_is_as_we_wrote_it(
    make_cluster: MakeCluster, spec: str, configmap: str
) -> None:
    # Given a cluster, its baseline, and MapIdentity's write (MountedFile: the authenticator rolled too)
    cluster = make_cluster(spec)
    before = cluster.configmap(configmap)["data"]
    baseline = baseline_of(cluster)
    outcome = map_identity(cluster)
    assert outcome.backup is not None
    # When the rollback runs with the registry's record of that write
    summary = rollback(cluster, baseline, record_of(outcome))
    # Then the ConfigMap is byte for byte as before, our RBAC is gone, the pod template is as before
    assert cluster.configmap(configmap)["data"] == before
    assert any("from the backup" in line for line in summary.restored)
    assert our_rbac(cluster) == []
    assert annotations(cluster) == {}


def test_after_someone_else_wrote_only_our_entries_are_reverted(make_cluster: MakeCluster) -> None:
    # Given our write, then another writer appending a user of its own to mapUsers
    cluster = make_cluster("kops=1.21")
    before = cluster.configmap("aws-auth")["data"]
    baseline = baseline_of(cluster)
    outcome = map_identity(cluster)
    theirs = "- userarn: arn:aws:iam::123456789012:user/theirs\n  username: theirs\n  groups:\n  - viewers\n"
    cluster.kube.store.mutate(
        "v1/configmaps",
        "kube-system",
        "aws-auth",
        lambda cm: cm["data"].update(mapUsers=cm["data"]["mapUsers"] + theirs),
    )
    # When the rollback runs (the resourceVersion is no longer ours)
    summary = rollback(cluster, baseline, record_of(outcome))
    # Then their entry stays, ours are gone, and the rest is as before
    after = cluster.configmap("aws-auth")["data"]
    assert after["mapUsers"] == before["mapUsers"] + theirs
    assert after["mapRoles"] == before["mapRoles"]
    assert not [line for line in summary.restored if "backup" in line]


def test_a_write_that_was_never_recorded_is_reverted_from_the_baseline(make_cluster: MakeCluster) -> None:
    # Given MapIdentity wrote the ConfigMap but failed before the registry recorded it
    cluster = make_cluster("kops=1.21")
    before = cluster.configmap("aws-auth")["data"]
    baseline = baseline_of(cluster)
    map_identity(cluster)
    # When the rollback runs without a record
    rollback(cluster, baseline, None)
    # Then the baseline's text is back, byte for byte
    assert cluster.configmap("aws-auth")["data"] == before
    assert our_rbac(cluster) == []


def test_rollback_leaves_untouched_configmaps_and_existing_rbac_alone(make_cluster: MakeCluster) -> None:
    # Given a cluster onboarded earlier (our RBAC and entries exist), then a rerun that changes nothing
    cluster = make_cluster("kops=1.21")
    map_identity(cluster)
    before = cluster.configmap("aws-auth")
    baseline = baseline_of(cluster)
    outcome = map_identity(cluster)
    assert outcome.backup is None
    # When that rerun is rolled back
    summary = rollback(cluster, baseline, None)
    # Then nothing changes: the entries and RBAC existed before it
    assert summary.removed == [] and summary.restored == []
    assert cluster.configmap("aws-auth") == before
    assert len(our_rbac(cluster)) == 4


# ---- Offboarding of the identity mapping ----


def test_offboarding_cuts_our_entries_out_byte_for_byte(make_cluster: MakeCluster) -> None:
    # Given an aws-auth with comments around the entries, and our entries added by onboarding
    cluster = make_cluster("kops=1.21")
    commented = "# admins\n" + cluster.configmap("aws-auth")["data"]["mapUsers"] + "# end of users\n"
    cluster.kube.store.mutate(
        "v1/configmaps", "kube-system", "aws-auth", lambda cm: cm["data"].update(mapUsers=commented)
    )
    before = cluster.configmap("aws-auth")["data"]
    map_identity(cluster)
    assert cluster.configmap("aws-auth")["data"] != before
    # When the cluster is offboarded
    summary = offboard(cluster)
    # Then every byte that was there before is back, comments included, and our RBAC is gone
    assert cluster.configmap("aws-auth")["data"] == before
    assert our_rbac(cluster) == []
    assert summary.removed
    # And offboarding again finds nothing to do
    again = offboard(cluster)
    assert again.removed == [] and again.kept == []


def test_offboarding_a_mounted_file_authenticator_rolls_it_onto_the_restored_config(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.17")
    before = cluster.configmap("aws-iam-authenticator")["data"]
    map_identity(cluster)
    offboard(cluster)
    assert cluster.configmap("aws-iam-authenticator")["data"] == before
    assert annotations(cluster)["kops-onboard.io/authenticator-config-sha256"] == config_hash(before["config.yaml"])


def test_offboarding_leaves_an_unparsable_configmap_alone(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.21")
    map_identity(cluster)
    cluster.kube.store.mutate(
        "v1/configmaps", "kube-system", "aws-auth", lambda cm: cm["data"].update(mapUsers="- userarn: [broken")
    )
    broken = cluster.configmap("aws-auth")
    summary = offboard(cluster)
    assert cluster.configmap("aws-auth") == broken
    assert any("does not parse" in line for line in summary.kept)


def test_offboarding_deletes_an_aws_auth_onboarding_created(make_cluster: MakeCluster) -> None:
    # Given an EKSConfigMap cluster without aws-auth: MapIdentity creates it, labelled ours
    cluster = make_cluster("kops=1.21")
    cluster.kube.store.delete("v1/configmaps", "kube-system", "aws-auth")
    map_identity(cluster)
    assert cluster.configmap("aws-auth")["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kops-onboard"
    # When offboarded, then it is gone again
    offboard(cluster)
    assert cluster.find("v1/configmaps", "kube-system", "aws-auth") is None


# ---- The agent ----


def _install(cluster: Cluster) -> None:
    install_agent(
        cluster.api,
        aws_client("secretsmanager"),
        onboard=cluster.onboard_input(),
        facts=cluster.facts,
        api_url="https://api.cast.ai",
    )


def test_agent_rollback_removes_what_the_baseline_lacked_and_keeps_what_was_there(make_cluster: MakeCluster) -> None:
    # Given a customer-made castai-agent namespace (not labelled ours) before onboarding
    cluster = make_cluster("kops=1.21")
    cluster.kube.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "castai-agent"}})
    baseline = baseline_of(cluster)
    _install(cluster)
    # When InstallAgent is rolled back
    summary = rollback_agent(KubeRest(cluster.api), baseline)
    # Then every object it created is gone, and the namespace that existed stays
    assert cluster.find("v1/namespaces", None, "castai-agent") is not None
    assert cluster.kube.store.list("deployments", "castai-agent") == []
    assert cluster.find("clusterroles", None, "castai-agent") is None
    assert "Namespace castai-agent" not in summary.removed and "Deployment castai-agent/castai-agent" in summary.removed


def test_offboarding_the_agent_keeps_objects_not_labelled_ours(make_cluster: MakeCluster) -> None:
    # Given an installed agent whose ClusterRole someone took over (our label removed)
    cluster = make_cluster("kops=1.21")
    _install(cluster)
    cluster.kube.store.mutate(
        "clusterroles", None, "castai-agent", lambda o: o["metadata"]["labels"].pop("app.kubernetes.io/managed-by")
    )
    # When the agent is offboarded
    summary = offboard_agent(KubeRest(cluster.api))
    # Then our namespace is deleted: gone, or Terminating on a real server until the namespace controller has
    # emptied it (offboarding does not wait for that); and the ClusterRole not labelled ours stays
    namespace = cluster.find("v1/namespaces", None, "castai-agent")
    assert namespace is None or namespace["metadata"].get("deletionTimestamp")
    assert cluster.find("clusterroles", None, "castai-agent") is not None
    assert any(line.startswith("ClusterRole castai-agent: not labelled") for line in summary.kept)


def test_kube_router_tolerations_come_back_unless_someone_changed_them(make_cluster: MakeCluster) -> None:
    # Given kOps 1.17 with kube-router, patched by InstallAgent
    cluster = make_cluster("kops=1.17,networking=kube-router")
    path = ("apps/v1/daemonsets", "kube-system", "kube-router")
    before = cluster.object(*path)["spec"]["template"]["spec"].get("tolerations")
    baseline = baseline_of(cluster)
    result, _ = ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    assert result.status == "patched"
    # When rolled back, the tolerations are as they were
    summary = rollback_agent(KubeRest(cluster.api), baseline)
    assert cluster.object(*path)["spec"]["template"]["spec"].get("tolerations") == before
    assert any("tolerations" in line for line in summary.restored)
    # And a list someone else changed since is left alone
    ensure_kube_router_tolerations(cluster.api, networking=cluster.facts.networking)
    other = {"key": "theirs", "operator": "Exists"}
    cluster.kube.store.mutate(*path, lambda ds: ds["spec"]["template"]["spec"]["tolerations"].append(other))
    summary = rollback_agent(KubeRest(cluster.api), baseline)
    assert other in cluster.object(*path)["spec"]["template"]["spec"]["tolerations"]
    assert any("changed by someone else" in line for line in summary.kept)
