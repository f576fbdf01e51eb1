"""MapIdentity logic against seeded kOps clusters of every supported version, over HTTP."""

from typing import Any

import pytest
import yaml

from kops_lambda.errors import AuthenticationNotEnabled, MalformedAuthConfig
from kops_lambda.logic.cluster.identity_mapping import backend_modes, ensure_identity_mapping
from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.models.cluster import IdentityMappingOutcome
from kops_local.kube import RecordedRequest

from .conftest import STATE_STORE, Cluster, MakeCluster, aws_client, dumps

AUTH_DS = ("apps/v1/daemonsets", "kube-system", "aws-iam-authenticator")
DEFAULT_BACKEND = {
    "1.11": "MountedFile",
    "1.15": "MountedFile",
    "1.17": "MountedFile",
    "1.18": "MountedFile",
    "1.20": "EKSConfigMap",
    "1.21": "EKSConfigMap",
    "1.22": "EKSConfigMap",
}
CONFIGMAP = {"EKSConfigMap": "aws-auth", "MountedFile": "aws-iam-authenticator"}
BACKEND_SPECS = {"EKSConfigMap": "kops=1.21", "MountedFile": "kops=1.17"}

# The documented rules (rbac.py module docstring), spelled out again so a change to either shows.
CAST_SERVICE_RULES = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "nodes",
            "services",
            "endpoints",
            "namespaces",
            "configmaps",
            "events",
            "persistentvolumes",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "resourcequotas",
            "limitranges",
            "serviceaccounts",
        ],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": [
            "apps",
            "batch",
            "autoscaling",
            "policy",
            "storage.k8s.io",
            "networking.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "metrics.k8s.io",
        ],
        "resources": ["*"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
]
SPOT_DRAINER_RULES = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]


def map_identity(
    cluster: Cluster, *, spot: bool = True, spot_role_arn: str | None = None, spot_force_delete: bool = False
) -> IdentityMappingOutcome:
    return ensure_identity_mapping(
        cluster.api,
        cluster_name=cluster.name,
        user_arn=cluster.user_arn,
        user_name=cluster.user_name,
        spot_role_arn=(spot_role_arn or cluster.spot_role_arn) if spot else None,
        kops_spec=read_kops_spec(aws_client("s3"), STATE_STORE, cluster.name),
        spot_force_delete=spot_force_delete,
    )


def eks_entries(cluster: Cluster, key: str) -> list[dict[str, Any]]:
    cm = cluster.configmap("aws-auth")
    assert cm is not None
    return list(yaml.safe_load(cm["data"].get(key) or "[]") or [])


def authenticator_entries(cluster: Cluster, key: str) -> list[dict[str, Any]]:
    cm = cluster.configmap("aws-iam-authenticator")
    assert cm is not None
    return list(yaml.safe_load(cm["data"]["config.yaml"])["server"].get(key) or [])


def entries(cluster: Cluster, backend: str, kind: str) -> list[dict[str, Any]]:
    if backend == "EKSConfigMap":
        return eks_entries(cluster, "mapUsers" if kind == "user" else "mapRoles")
    return authenticator_entries(cluster, "mapUsers" if kind == "user" else "mapRoles")


def arn_of(entry: dict[str, Any]) -> str:
    return str(entry.get("userarn") or entry.get("userARN") or entry.get("rolearn") or entry.get("roleARN"))


def configmap_writes(cluster: Cluster, name: str) -> list[RecordedRequest]:
    return [r for r in cluster.writes() if r.path == f"/api/v1/namespaces/kube-system/configmaps/{name}"]


@pytest.mark.parametrize("version", list(DEFAULT_BACKEND))
def test_each_supported_kops_version_gets_the_mapping_where_its_authenticator_reads(
    make_cluster: MakeCluster, version: str
) -> None:
    # Given a cluster seeded with kOps' default authenticator backend for that version
    cluster = make_cluster(f"kops={version}", nodes=1)
    backend = DEFAULT_BACKEND[version]
    # When we map the IAM user and the Spot handler role
    outcome = map_identity(cluster)
    # Then the mapping lands in that backend's ConfigMap, once each, in our groups
    result = outcome.result
    assert result.backend == backend
    assert result.configmap == f"kube-system/{CONFIGMAP[backend]}"
    users = [e for e in entries(cluster, backend, "user") if arn_of(e) == cluster.user_arn]
    roles = [e for e in entries(cluster, backend, "role") if arn_of(e) == cluster.spot_role_arn]
    assert [(u["username"], u["groups"]) for u in users] == [
        (f"kops-onboard:cast:{cluster.user_name}", ["kops-onboard:cast-service"])
    ]
    assert [(r["username"], r["groups"]) for r in roles] == [
        ("kops-onboard:spot-drainer:{{SessionName}}", ["kops-onboard:spot-drainer"])
    ]
    assert {m.status for m in result.mappings} == {"added"}
    # And the resourceVersion reported is the one now stored
    assert result.resource_version == cluster.configmap(CONFIGMAP[backend])["metadata"]["resourceVersion"]
    # And the authenticator is rolled only when it reads a mounted file
    template = cluster.object(*AUTH_DS)["spec"]["template"]["metadata"]
    ds_writes = [r for r in cluster.writes() if r.path.endswith("/daemonsets/aws-iam-authenticator")]
    if backend == "MountedFile":
        assert result.daemonset_restarted
        assert "kops-onboard.io/restartedAt" in template["annotations"]
        assert len(ds_writes) == 1
    else:
        assert not result.daemonset_restarted
        assert ds_writes == []
        assert "kops-onboard.io/restartedAt" not in (template.get("annotations") or {})


@pytest.mark.parametrize("backend", list(BACKEND_SPECS))
def test_a_concurrent_writer_causes_a_retry_and_both_entries_are_kept(make_cluster: MakeCluster, backend: str) -> None:
    # Given a cluster where someone else adds a mapping between our read and our write
    cluster = make_cluster(BACKEND_SPECS[backend], nodes=1)
    name = CONFIGMAP[backend]
    other = f"arn:aws:iam::{cluster.account}:user/someone-else"

    def add_other(cm: dict[str, Any]) -> None:
        if backend == "EKSConfigMap":
            cm["data"]["mapUsers"] += f"- userarn: {other}\n  username: someone\n  groups:\n  - viewers\n"
        else:
            config = yaml.safe_load(cm["data"]["config.yaml"])
            config["server"]["mapUsers"].append({"userARN": other, "username": "someone", "groups": ["viewers"]})
            cm["data"]["config.yaml"] = yaml.safe_dump(config, sort_keys=False)

    fired: list[bool] = []

    def concurrent_writer(request: RecordedRequest) -> None:
        if request.method == "PATCH" and request.path.endswith(f"/configmaps/{name}") and not fired:
            fired.append(True)
            cluster.kube.store.mutate("v1/configmaps", "kube-system", name, add_other)

    cluster.kube.before_request(concurrent_writer)
    # When we map the identities
    outcome = map_identity(cluster)
    # Then our first write was refused with 409 and the retry, on a fresh read, succeeded
    assert [r.status for r in configmap_writes(cluster, name)] == [409, 200]
    # And both the other writer's entry and ours are there, once each
    arns = [arn_of(e) for e in entries(cluster, backend, "user")]
    assert arns.count(other) == 1
    assert arns.count(cluster.user_arn) == 1
    assert outcome.result.resource_version == cluster.configmap(name)["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("backend", "key", "value"),
    [
        ("EKSConfigMap", "mapUsers", "- userarn: [unclosed\n"),
        ("EKSConfigMap", "mapUsers", "- username: no-arn\n  groups: [viewers]\n"),
        ("EKSConfigMap", "mapUsers", "userarn: not-a-list\n"),
        ("EKSConfigMap", "mapRoles", "- rolearn: arn:aws:iam::1:role/x\n  groups: viewers\n"),
        ("MountedFile", "config.yaml", "clusterID: x\nserver:\n  mapUsers: not-a-list\n"),
        ("MountedFile", "config.yaml", "clusterID: [x\n"),
    ],
    ids=["not-yaml", "entry-without-arn", "not-a-list", "groups-not-a-list", "config-mapusers", "config-not-yaml"],
)
def test_malformed_mapping_data_fails_closed_and_writes_nothing(
    make_cluster: MakeCluster, backend: str, key: str, value: str
) -> None:
    # Given a mapping ConfigMap whose data we cannot parse
    cluster = make_cluster(BACKEND_SPECS[backend], nodes=1)
    name = CONFIGMAP[backend]
    before = cluster.kube.store.mutate(
        "v1/configmaps", "kube-system", name, lambda cm: cm["data"].__setitem__(key, value)
    )
    cluster.kube.clear_requests()
    # When we map the identities
    with pytest.raises(MalformedAuthConfig, match=name) as raised:
        map_identity(cluster)
    # Then the error names where, without echoing the data
    assert value.strip() not in str(raised.value)
    # And nothing at all was written: the ConfigMap is byte-identical, same resourceVersion
    assert cluster.configmap(name) == before
    assert cluster.writes() == []


def test_an_existing_entry_for_our_arn_becomes_exactly_one_entry_with_its_other_fields(
    make_cluster: MakeCluster,
) -> None:
    # Given aws-auth already mapping our ARN twice (once in other case), with an extra field
    cluster = make_cluster("kops=1.22", nodes=1)
    admin = eks_entries(cluster, "mapUsers")
    ours = {"userarn": cluster.user_arn, "username": "old", "groups": ["old-group"], "note": "keep me"}
    duplicate = {"userarn": cluster.user_arn.upper().replace("ARN:AWS:IAM", "arn:aws:iam"), "username": "dup"}
    cluster.kube.store.mutate(
        "v1/configmaps",
        "kube-system",
        "aws-auth",
        lambda cm: cm["data"].__setitem__("mapUsers", yaml.safe_dump([admin[0], ours, duplicate], sort_keys=False)),
    )
    # When we map the user
    outcome = map_identity(cluster, spot=False)
    # Then there is one entry for our ARN, with our username and groups and its other field kept
    users = eks_entries(cluster, "mapUsers")
    mine = [u for u in users if arn_of(u).lower() == cluster.user_arn.lower()]
    assert mine == [
        {
            "userarn": cluster.user_arn,
            "username": f"kops-onboard:cast:{cluster.user_name}",
            "groups": ["kops-onboard:cast-service"],
            "note": "keep me",
        }
    ]
    # And the other entry is untouched, in its place
    assert users[0] == admin[0]
    assert outcome.result.mappings[0].status == "updated"
    assert outcome.backup is not None and outcome.backup.updated_arns == [cluster.user_arn]


def test_other_keys_stay_byte_identical_and_other_entries_keep_their_text(make_cluster: MakeCluster) -> None:
    # Given aws-auth with comments, mapAccounts and a key we do not know
    cluster = make_cluster("kops=1.21", nodes=1)
    extra = {
        "mapAccounts": '- "111122223333"  # partner account\n- 444455556666\n',
        "x-custom": "anything:\n   goes: [1, 2]   # not ours\n",
    }

    def decorate(cm: dict[str, Any]) -> None:
        cm["data"]["mapRoles"] = "# nodes and admins\n" + cm["data"]["mapRoles"] + "# end of roles\n"
        cm["data"]["mapUsers"] = cm["data"]["mapUsers"].replace("username: kops-admin", "username: kops-admin  # ops")
        cm["data"].update(extra)
        cm["metadata"]["annotations"] = {"owner": "platform-team"}

    before = cluster.kube.store.mutate("v1/configmaps", "kube-system", "aws-auth", decorate)
    # When we map the IAM user only
    outcome = map_identity(cluster, spot=False)
    # Then only mapUsers was written: every other key is byte-identical
    after = cluster.configmap("aws-auth")
    for key in ("mapRoles", "mapAccounts", "x-custom"):
        assert after["data"][key] == before["data"][key]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert outcome.result.changed_keys == ["mapUsers"]
    [write] = configmap_writes(cluster, "aws-auth")
    assert set(write.body["data"]) == {"mapUsers"}
    assert write.body["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # And inside mapUsers the existing text (comment included) is kept as it was, ours appended
    assert after["data"]["mapUsers"].startswith(before["data"]["mapUsers"])
    # And the backup holds the previous value of the key we changed
    assert outcome.backup is not None
    assert outcome.backup.previous_values == {"mapUsers": before["data"]["mapUsers"]}
    assert outcome.backup.previous_resource_version == before["metadata"]["resourceVersion"]

    # When we then map the Spot role as well
    map_identity(cluster)
    # Then mapRoles keeps its text (comments included) and gains our role; the rest is untouched
    final = cluster.configmap("aws-auth")
    roles_before = before["data"]["mapRoles"].removesuffix("# end of roles\n")
    assert final["data"]["mapRoles"].startswith(roles_before)
    assert final["data"]["mapRoles"].endswith("# end of roles\n")
    assert [arn_of(r) for r in eks_entries(cluster, "mapRoles")][-1] == cluster.spot_role_arn
    for key in ("mapAccounts", "x-custom", "mapUsers"):
        assert final["data"][key] == after["data"][key]


def test_mounted_file_config_keeps_its_other_fields_and_entries(make_cluster: MakeCluster) -> None:
    # Given a MountedFile config.yaml with fields we do not know
    cluster = make_cluster("kops=1.15", nodes=1)

    def decorate(cm: dict[str, Any]) -> None:
        config = yaml.safe_load(cm["data"]["config.yaml"])
        config["server"]["mapAccounts"] = ["111122223333"]
        config["server"]["futureOption"] = {"enabled": True}
        config["server"]["mapUsers"][0]["unknownField"] = "kept"
        cm["data"]["config.yaml"] = "# managed by hand\n" + yaml.safe_dump(config, sort_keys=False)

    before = cluster.kube.store.mutate("v1/configmaps", "kube-system", "aws-iam-authenticator", decorate)
    old = yaml.safe_load(before["data"]["config.yaml"])
    # When we map both identities
    map_identity(cluster)
    # Then the document is the old one plus our two entries, comment kept
    text = cluster.configmap("aws-iam-authenticator")["data"]["config.yaml"]
    new = yaml.safe_load(text)
    assert text.startswith("# managed by hand\n")
    assert new["clusterID"] == old["clusterID"]
    assert new["server"]["mapAccounts"] == ["111122223333"]
    assert new["server"]["futureOption"] == {"enabled": True}
    assert new["server"]["mapUsers"][:-1] == old["server"]["mapUsers"]
    assert new["server"]["mapRoles"][:-1] == old["server"]["mapRoles"]
    assert arn_of(new["server"]["mapUsers"][-1]) == cluster.user_arn
    assert arn_of(new["server"]["mapRoles"][-1]) == cluster.spot_role_arn


@pytest.mark.parametrize("backend", list(BACKEND_SPECS))
def test_a_rerun_writes_nothing(make_cluster: MakeCluster, backend: str) -> None:
    # Given a cluster we already mapped
    cluster = make_cluster(BACKEND_SPECS[backend], nodes=1)
    first = map_identity(cluster).result
    cluster.kube.clear_requests()
    # When the step runs again
    second = map_identity(cluster)
    # Then it makes no write at all and reports everything unchanged, same resourceVersion
    assert cluster.writes() == []
    assert second.backup is None
    assert second.result.configmap_status == "unchanged"
    assert {m.status for m in second.result.mappings} == {"unchanged"}
    assert {o.status for o in second.result.rbac} == {"unchanged"}
    assert second.result.resource_version == first.resource_version
    assert cluster.configmap(CONFIGMAP[backend])["metadata"]["resourceVersion"] == first.resource_version
    assert not second.result.daemonset_restarted
    assert second.registry_resources() == {}


def test_a_mounted_file_entry_written_without_a_roll_gets_the_roll_on_retry(make_cluster: MakeCluster) -> None:
    # Given a previous attempt that wrote config.yaml but died before rolling the authenticator
    cluster = make_cluster("kops=1.18", nodes=1)
    map_identity(cluster)
    cluster.kube.store.mutate(*AUTH_DS, lambda ds: ds["spec"]["template"]["metadata"].pop("annotations"))
    # When the step is retried
    outcome = map_identity(cluster)
    # Then the ConfigMap is unchanged but the DaemonSet is rolled
    assert outcome.result.configmap_status == "unchanged"
    assert outcome.result.daemonset_restarted


@pytest.mark.parametrize("backend", list(BACKEND_SPECS))
def test_nothing_we_write_grants_system_masters(make_cluster: MakeCluster, backend: str) -> None:
    # Given a cluster whose existing mappings include system:masters admins
    cluster = make_cluster(BACKEND_SPECS[backend], nodes=1)
    masters_before = sorted(
        arn_of(e)
        for kind in ("user", "role")
        for e in entries(cluster, backend, kind)
        if "system:masters" in e.get("groups", [])
    )
    # When we map the identities and create the RBAC
    outcome = map_identity(cluster)
    # Then no entry of ours and no RBAC object of ours names system:masters
    assert all("system:masters" not in m.groups for m in outcome.result.mappings)
    for request in cluster.writes():
        if "/configmaps/" not in request.path:
            assert "system:masters" not in dumps(request.body)
    masters_after = sorted(
        arn_of(e)
        for kind in ("user", "role")
        for e in entries(cluster, backend, kind)
        if "system:masters" in e.get("groups", [])
    )
    assert masters_after == masters_before
    assert cluster.user_arn not in masters_after and cluster.spot_role_arn not in masters_after


def test_cluster_roles_and_bindings_are_exactly_as_documented(make_cluster: MakeCluster) -> None:
    # Given a cluster
    cluster = make_cluster("kops=1.20", nodes=1)
    # When we map the identities
    outcome = map_identity(cluster)
    # Then the two ClusterRoles hold exactly the documented rules, bound to our two groups
    rbac = "rbac.authorization.k8s.io/v1"
    cast = cluster.object(f"{rbac}/clusterroles", None, "kops-onboard:cast-service")
    spot = cluster.object(f"{rbac}/clusterroles", None, "kops-onboard:spot-drainer")
    assert cast["rules"] == CAST_SERVICE_RULES
    assert spot["rules"] == SPOT_DRAINER_RULES
    for name in ("kops-onboard:cast-service", "kops-onboard:spot-drainer"):
        binding = cluster.object(f"{rbac}/clusterrolebindings", None, name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}]
        assert binding["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kops-onboard"
    # And no secrets access of any kind, no wildcard verbs
    for role in (cast, spot):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["verbs"]
    assert [(o.kind, o.name, o.status) for o in outcome.result.rbac] == [
        ("ClusterRole", "kops-onboard:cast-service", "created"),
        ("ClusterRoleBinding", "kops-onboard:cast-service", "created"),
        ("ClusterRole", "kops-onboard:spot-drainer", "created"),
        ("ClusterRoleBinding", "kops-onboard:spot-drainer", "created"),
    ]


def test_the_force_delete_opt_in_lets_the_drainer_delete_pods_and_opting_out_takes_it_back(
    make_cluster: MakeCluster,
) -> None:
    # Given a cluster mapped with the Spot handler's force-delete opt-in
    cluster = make_cluster("kops=1.22", nodes=1)
    map_identity(cluster, spot_force_delete=True)
    rbac = "rbac.authorization.k8s.io/v1"
    rules = cluster.object(f"{rbac}/clusterroles", None, "kops-onboard:spot-drainer")["rules"]
    # Then pods may be deleted too, and nothing else changed
    pods = [rule for rule in rules if rule["resources"] == ["pods"]]
    assert pods == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]}]
    assert [rule for rule in rules if rule["resources"] != ["pods"]] == [
        rule for rule in SPOT_DRAINER_RULES if rule["resources"] != ["pods"]
    ]
    # When onboarding runs again without the opt-in, the delete verb is gone
    outcome = map_identity(cluster)
    assert cluster.object(f"{rbac}/clusterroles", None, "kops-onboard:spot-drainer")["rules"] == SPOT_DRAINER_RULES
    assert {(o.name, o.kind): o.status for o in outcome.result.rbac}[("kops-onboard:spot-drainer", "ClusterRole")] == (
        "updated"
    )


def test_drifted_rbac_is_put_back(make_cluster: MakeCluster) -> None:
    # Given our ClusterRole widened by hand and our binding pointing at another role
    cluster = make_cluster("kops=1.21", nodes=1)
    map_identity(cluster)
    store = cluster.kube.store
    rbac = "rbac.authorization.k8s.io/v1"
    store.mutate(
        f"{rbac}/clusterroles",
        None,
        "kops-onboard:spot-drainer",
        lambda r: r["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
    )
    # (roleRef is immutable: pointing a binding elsewhere takes a delete and a create)
    binding = cluster.object(f"{rbac}/clusterrolebindings", None, "kops-onboard:cast-service")
    store.delete(f"{rbac}/clusterrolebindings", None, "kops-onboard:cast-service")
    binding["roleRef"]["name"] = "cluster-admin"
    store.create(
        {k: v for k, v in binding.items() if k != "metadata"} | {"metadata": {"name": binding["metadata"]["name"]}}
    )
    # When the step runs again
    outcome = map_identity(cluster)
    # Then both are back to what we define
    assert cluster.object(f"{rbac}/clusterroles", None, "kops-onboard:spot-drainer")["rules"] == SPOT_DRAINER_RULES
    assert cluster.object(f"{rbac}/clusterrolebindings", None, "kops-onboard:cast-service")["roleRef"]["name"] == (
        "kops-onboard:cast-service"
    )
    assert {(o.name, o.kind): o.status for o in outcome.result.rbac} == {
        ("kops-onboard:cast-service", "ClusterRole"): "unchanged",
        ("kops-onboard:cast-service", "ClusterRoleBinding"): "updated",
        ("kops-onboard:spot-drainer", "ClusterRole"): "updated",
        ("kops-onboard:spot-drainer", "ClusterRoleBinding"): "unchanged",
    }


def test_a_cluster_without_authentication_gets_the_kops_setting_to_turn_on(make_cluster: MakeCluster) -> None:
    # Given a cluster created without spec.authentication.aws
    cluster = make_cluster("kops=1.21,auth=none", nodes=1)
    # When / Then
    with pytest.raises(AuthenticationNotEnabled) as raised:
        map_identity(cluster)
    message = str(raised.value)
    assert "spec.authentication.aws: {}" in message
    assert f"kops update cluster {cluster.name} --yes" in message
    assert cluster.writes() == []


def test_authentication_in_the_spec_but_not_running_says_to_apply_it(make_cluster: MakeCluster) -> None:
    # Given a spec with authentication.aws whose authenticator DaemonSet is not (yet) running
    cluster = make_cluster("kops=1.21", nodes=1)
    cluster.kube.store.delete(*AUTH_DS)
    # When / Then
    with pytest.raises(AuthenticationNotEnabled, match="kops update cluster"):
        map_identity(cluster)
    assert cluster.writes() == []


def test_backend_mode_flag_forms() -> None:
    def ds(args: list[str]) -> dict[str, Any]:
        return {"spec": {"template": {"spec": {"containers": [{"name": "aws-iam-authenticator", "args": args}]}}}}

    assert backend_modes(ds(["server", "--backend-mode", "CRD,EKSConfigMap"])) == ("CRD", "EKSConfigMap")
    assert backend_modes(ds(["server", "--backend-mode=MountedFile,CRD"])) == ("MountedFile", "CRD")
    assert backend_modes(ds(["server", "--config=/etc/aws-iam-authenticator/config.yaml"])) == ("MountedFile",)


def test_a_missing_aws_auth_is_created_for_the_eks_backend(make_cluster: MakeCluster) -> None:
    # Given an EKSConfigMap authenticator without an aws-auth ConfigMap yet
    cluster = make_cluster("kops=1.21", nodes=1)
    cluster.kube.store.delete("v1/configmaps", "kube-system", "aws-auth")
    # When we map the identities
    outcome = map_identity(cluster)
    # Then aws-auth exists with our two entries, and the backup says it did not exist before
    assert outcome.result.configmap_status == "created"
    assert [arn_of(e) for e in eks_entries(cluster, "mapUsers")] == [cluster.user_arn]
    assert [arn_of(e) for e in eks_entries(cluster, "mapRoles")] == [cluster.spot_role_arn]
    assert outcome.backup is not None and outcome.backup.configmap_created
    assert outcome.backup.previous_values == {"mapUsers": None, "mapRoles": None}


def test_role_arns_are_mapped_without_their_iam_path(make_cluster: MakeCluster) -> None:
    # Given a Spot handler role with an IAM path
    cluster = make_cluster("kops=1.21", nodes=1)
    with_path = f"arn:aws:iam::{cluster.account}:role/service-role/kops-onboard-spot"
    # When we map it
    outcome = map_identity(cluster, spot_role_arn=with_path)
    # Then the entry carries the path-less ARN the authenticator matches sessions against
    expected = f"arn:aws:iam::{cluster.account}:role/kops-onboard-spot"
    assert arn_of(eks_entries(cluster, "mapRoles")[-1]) == expected
    assert outcome.result.mappings[1].arn == expected


def test_the_result_carries_no_configmap_data(make_cluster: MakeCluster) -> None:
    # Given a cluster
    cluster = make_cluster("kops=1.21", nodes=1)
    before = cluster.configmap("aws-auth")
    # When we map the identities
    outcome = map_identity(cluster)
    # Then the step's output has names and statuses only; the previous data is in the registry record
    output = dumps(outcome.result.model_dump(mode="json"))
    assert "kops-admin" not in output and "backup" not in output
    record = outcome.registry_resources()["identity_mapping"]
    assert record["backup"]["previous_values"]["mapUsers"] == before["data"]["mapUsers"]
