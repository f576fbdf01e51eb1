"""`plan_only: true` through the synthesized onboarding state machine: the plan of a fresh, an onboarded and a
hand-edited cluster, each leaving the account and the cluster byte-identical, and a plan that a following
onboarding then carries out exactly."""

import json
from typing import Any

import pytest

from kops_lambda.constants import (
    AGENT_NAMESPACE,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    access_key_secret_name,
    private_key_secret_name,
)
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.e2e.secret_scan import secret_parts
from tests.rollback.account_state import differences, system_state

AGENT_KINDS = {
    "serviceaccounts": "ServiceAccount",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "resourcequotas": "ResourceQuota",
    "deployments": "Deployment",
    "roles": "Role",
    "rolebindings": "RoleBinding",
}


def _execute(system: LocalSystem, payload: dict[str, Any]) -> ExecutionResult:
    return run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], payload, name_prefix="plan"
    )


def _plan(system: LocalSystem, cluster: LocalCluster, **extra: Any) -> dict[str, Any]:
    """The plan, asserting that making it changed nothing in the account or any cluster."""
    before = system_state(system)
    result = _execute(system, {**cluster.onboard_input(), **extra, "plan_only": True})
    after = system_state(system)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert not differences(before, after), "the plan wrote:\n" + "\n".join(differences(before, after))
    plan: dict[str, Any] = result.output
    return plan


def _actions(plan: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["kind"], r["name"]): r["action"] for r in plan["resources"]}


def _by_kind(plan: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [r for r in plan["resources"] if r["kind"] == kind and r["name"] == name]
    assert len(found) == 1, (kind, name, plan["resources"])
    return found[0]


@pytest.fixture(scope="module")
def fresh(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("plan-fresh.k8s.local:kops=1.21,nodes=1,auth=eksconfigmap"))


def test_plan_of_a_fresh_cluster_creates_everything_and_writes_nothing(
    local_system: LocalSystem, fresh: LocalCluster
) -> None:
    # Given a seeded cluster never onboarded (the account may hold what other clusters share)
    # When it is planned
    plan = _plan(local_system, fresh)
    # Then its own resources are all to be created, with their documents, and nothing is refused
    actions = _actions(plan)
    user = f"cast-kops-{fresh.name}"
    assert plan["identity_mode"] == "authenticator" and plan["identity_backend"] == "EKSConfigMap"
    assert actions[("iam-user", user)] == "create"
    cluster_policies = [r for r in plan["resources"] if r["kind"] == "iam-policy" and r["name"].startswith(user)]
    assert cluster_policies and all(r["action"] == "create" and r["document"]["Statement"] for r in cluster_policies)
    assert actions[("ec2-key-pair", user)] == "create"
    assert actions[("secret", f"kops-onboard/clusters/{fresh.name}/access-key")] == "create"
    assert actions[("secret", f"kops-onboard/clusters/{fresh.name}/ssh-private-key")] == "create"
    assert actions[("iam-access-key", f"{user}/access-key")] == "create"
    aws_auth = _by_kind(plan, "ConfigMap", "kube-system/aws-auth")
    assert aws_auth["action"] in {"create", "update"}
    assert f"+- userarn: arn:aws:iam::{local_system.aws.account_id}:user/{user}\n" in aws_auth["diff"]
    assert "refuse" not in actions.values()
    # And it names what it does not cover
    assert plan["not_covered"]


def test_plan_then_onboarding_does_exactly_what_the_plan_said(local_system: LocalSystem) -> None:
    # Given a fresh cluster and its plan
    cluster = local_system.add_cluster(ClusterSpec.parse("plan-then.k8s.local:kops=1.21,nodes=1"))
    plan = _plan(local_system, cluster)
    planned = {key for key, action in _actions(plan).items() if action in {"create", "update"}}
    before = system_state(local_system)
    # When the onboarding runs
    onboarding = _execute(local_system, cluster.onboard_input())
    assert onboarding.status == "SUCCEEDED", (onboarding.error, onboarding.cause)
    after = system_state(local_system)
    # Then what it created or changed, kind by kind, is what the plan said it would, and nothing else
    assert _changed_state(before, after, cluster.name) == {
        (kind, name) for kind, name in planned if kind != "iam-access-key"
    }
    # And the access key the plan announced is the one stored
    user = f"cast-kops-{cluster.name}"
    assert ("iam-access-key", f"{user}/access-key") in planned
    assert len(after["iam"]["users"][user]["access_keys"]) == 1
    # And a second plan finds it all in place, naming the stored secrets without their values
    again = _plan(local_system, cluster)
    assert _changes(again) == {}
    text = json.dumps(again)
    secretsmanager = local_system.aws.client("secretsmanager")
    for name in (access_key_secret_name(cluster.name), private_key_secret_name(cluster.name)):
        assert name in text
        value = secretsmanager.get_secret_value(SecretId=name)["SecretString"]
        assert not [part for part in secret_parts(name, value) if part in text]
    assert cluster.token not in text


def _changed_state(before: dict[str, Any], after: dict[str, Any], cluster: str) -> set[tuple[str, str]]:
    """What changed between two account_state pictures, named as a plan names resources; the registry (which
    the plan does not cover) left out."""
    changed: set[tuple[str, str]] = set()
    for kind, section in (("iam-user", "users"), ("iam-policy", "policies"), ("iam-role", "roles")):
        old, new = before["iam"][section], after["iam"][section]
        changed |= {(kind, name) for name in new if old.get(name) != new[name]}
    changed |= {("ec2-key-pair", n) for n in after["key_pairs"] if before["key_pairs"].get(n) != after["key_pairs"][n]}
    changed |= {("secret", n) for n in after["secrets"] if before["secrets"].get(n) != after["secrets"][n]}
    old_cluster, new_cluster = before["clusters"][cluster], after["clusters"][cluster]
    changed |= {
        ("ConfigMap", f"kube-system/{name}")
        for name in new_cluster["configmaps"]
        if old_cluster["configmaps"].get(name) != new_cluster["configmaps"][name]
    }
    kinds = {"clusterroles": "ClusterRole", "clusterrolebindings": "ClusterRoleBinding"}
    changed |= {
        (kinds[entry.split("/")[0]], entry.split("/", 1)[1])
        for entry in set(new_cluster["cluster_rbac"]) - set(old_cluster["cluster_rbac"])
    }
    if new_cluster["agent_namespace"] != old_cluster["agent_namespace"]:
        changed.add(("Namespace", AGENT_NAMESPACE))
    for plural, names in new_cluster["agent_objects"].items():
        new_names = set(names) - set(old_cluster["agent_objects"].get(plural, []))
        changed |= {(AGENT_KINDS[plural], f"{AGENT_NAMESPACE}/{name}") for name in new_names}
    changed |= {
        ("kube-system", entry) for entry in set(new_cluster["kube_system_ours"]) ^ set(old_cluster["kube_system_ours"])
    }
    return changed


def _changes(plan: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """What the plan would do but leave alone; the drainer's secret gets a new credential on every run."""
    return {
        (r["kind"], r["name"]): (r["action"], r["changes"])
        for r in plan["resources"]
        if r["action"] != "unchanged" and not r["name"].endswith("/spot-drainer")
    }


@pytest.fixture(scope="module")
def onboarded(local_system: LocalSystem) -> LocalCluster:
    cluster = local_system.add_cluster(ClusterSpec.parse("plan-done.k8s.local:kops=1.21,nodes=1,auth=eksconfigmap"))
    result = _execute(local_system, cluster.onboard_input())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return cluster


def test_plan_of_an_onboarded_cluster_is_all_unchanged(local_system: LocalSystem, onboarded: LocalCluster) -> None:
    plan = _plan(local_system, onboarded)
    assert _changes(plan) == {}
    assert _by_kind(plan, "secret", f"kops-onboard/clusters/{onboarded.name}/spot-drainer")["action"] == "update"


def test_plan_lists_hand_edits_as_updates(local_system: LocalSystem, onboarded: LocalCluster) -> None:
    # Given an onboarded cluster whose shared policy lost a statement, whose aws-auth lost our user and whose
    # Spot role gained a policy the deployment does not give it
    iam = local_system.aws.client("iam")
    account = local_system.aws.client("sts").get_caller_identity()["Account"]
    shared_arn = f"arn:aws:iam::{account}:policy/{SHARED_POLICY_NAME}"
    policy = iam.get_policy(PolicyArn=shared_arn)["Policy"]
    document = iam.get_policy_version(PolicyArn=shared_arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"][
        "Document"
    ]
    document = json.loads(document) if isinstance(document, str) else document
    dropped = document["Statement"].pop(0)
    edited = iam.create_policy_version(PolicyArn=shared_arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    iam.attach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn="arn:aws:iam::aws:policy/CloudWatchLogsFullAccess")
    store = onboarded.api_server.store
    aws_auth = store.get("v1/configmaps", "kube-system", "aws-auth")
    saved_users = aws_auth["data"]["mapUsers"]
    store.put({**aws_auth, "data": {**aws_auth["data"], "mapUsers": "[]"}})
    try:
        # When it is planned
        plan = _plan(local_system, onboarded)
        # Then each edit is an update saying what changes, and nothing else is
        changes = _changes(plan)
        assert changes[("iam-policy", SHARED_POLICY_NAME)] == (
            "update",
            [f"new default version: statement {dropped['Sid']} added"],
        )
        assert changes[("iam-role", SPOT_ROLE_NAME)] == (
            "update",
            ["detach arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"],
        )
        action, lines = changes[("ConfigMap", "kube-system/aws-auth")]
        assert action == "update" and any(f"cast-kops-{onboarded.name}" in line and "added" in line for line in lines)
        assert set(changes) == {
            ("iam-policy", SHARED_POLICY_NAME),
            ("iam-role", SPOT_ROLE_NAME),
            ("ConfigMap", "kube-system/aws-auth"),
        }
        assert "+" in _by_kind(plan, "ConfigMap", "kube-system/aws-auth")["diff"]
    finally:
        iam.set_default_policy_version(PolicyArn=shared_arn, VersionId=policy["DefaultVersionId"])
        iam.delete_policy_version(PolicyArn=shared_arn, VersionId=edited["PolicyVersion"]["VersionId"])
        iam.detach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn="arn:aws:iam::aws:policy/CloudWatchLogsFullAccess")
        current = store.get("v1/configmaps", "kube-system", "aws-auth")
        store.put({**current, "data": {**current["data"], "mapUsers": saved_users}})


def test_what_onboarding_never_makes_is_planned_for_removal_and_a_rerun_removes_it(
    local_system: LocalSystem, onboarded: LocalCluster
) -> None:
    # Given an onboarded cluster whose user got a policy attached by hand, an inline policy and a second key, and
    # whose Spot role got an inline policy
    iam, user = local_system.aws.client("iam"), f"cast-kops-{onboarded.name}"
    wide = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    hand_made = iam.create_policy(PolicyName="plan-hand-made", PolicyDocument=wide)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=hand_made)
    iam.put_user_policy(UserName=user, PolicyName="HandInline", PolicyDocument=wide)
    second = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.put_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName="HandInline", PolicyDocument=wide)
    # When it is planned
    plan = _plan(local_system, onboarded)
    # Then each is listed for removal, marked as not onboarding's, and nothing else changes
    mark = " (not onboarding's)"
    assert _changes(plan) == {
        ("iam-user", user): ("update", [f"detach {hand_made}{mark}"]),
        ("iam-inline-policy", f"{user}/HandInline"): ("update", [f"delete it{mark}"]),
        ("iam-access-key", f"{user}/{second}"): ("update", [f"deactivate it{mark}"]),
        ("iam-role-policy", f"{SPOT_ROLE_NAME}/HandInline"): ("update", [f"delete it{mark}"]),
    }
    # When onboarding runs again
    result = _execute(local_system, onboarded.onboard_input())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # Then it did exactly that: the policy is detached (not deleted: it is not ours), the inline policies are
    # gone, the second key is inactive (not deleted) and a new plan finds nothing to do
    assert hand_made not in {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
    assert iam.get_policy(PolicyArn=hand_made)["Policy"]["Arn"] == hand_made
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert "HandInline" not in iam.list_role_policies(RoleName=SPOT_ROLE_NAME)["PolicyNames"]
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert keys[second] == "Inactive" and list(keys.values()).count("Active") == 1
    assert _changes(_plan(local_system, onboarded)) == {}
    iam.delete_access_key(UserName=user, AccessKeyId=second)
    iam.delete_policy(PolicyArn=hand_made)


def test_plan_of_an_unsupported_kops_version_fails_like_onboarding(local_system: LocalSystem) -> None:
    old = local_system.add_cluster(ClusterSpec.parse("plan-old.k8s.local:kops=1.16,nodes=1"))
    before = system_state(local_system)
    result = _execute(local_system, {**old.onboard_input(), "plan_only": True})
    assert result.status == "FAILED"
    assert result.error == "UnsupportedKopsVersion"
    assert "1.16" in (result.cause or "")
    assert not differences(before, system_state(local_system))


def test_plan_of_another_clusters_kubeconfig_fails_like_onboarding(
    local_system: LocalSystem, fresh: LocalCluster, onboarded: LocalCluster
) -> None:
    # The kubeconfig secret of one cluster given for another: the API server is not the named cluster's
    payload = {**fresh.onboard_input(), "kubeconfig_secret_arn": onboarded.kubeconfig_secret_arn, "plan_only": True}
    onboarding = _execute(local_system, {k: v for k, v in payload.items() if k != "plan_only"})
    result = _execute(local_system, payload)
    assert result.status == "FAILED"
    assert result.error == onboarding.error
    assert result.error in {"InvalidInput", "ClusterMismatch"}


def test_plan_of_a_kops_117_cluster_shows_the_authenticator_roll_and_the_kube_router_fix(
    local_system: LocalSystem,
) -> None:
    # Given a kOps 1.17 cluster: MountedFile authenticator, kube-router without the tolerations Spot nodes need
    cluster = local_system.add_cluster(ClusterSpec.parse("plan-117.k8s.local:kops=1.17,networking=kube-router,nodes=1"))
    # When it is planned
    plan = _plan(local_system, cluster)
    # Then the authenticator's config.yaml gets our user, the DaemonSet is rolled, kube-router gets tolerations
    assert plan["identity_backend"] == "MountedFile"
    config = _by_kind(plan, "ConfigMap", "kube-system/aws-iam-authenticator")
    assert config["action"] == "update" and f"cast-kops-{cluster.name}" in config["diff"]
    assert _by_kind(plan, "DaemonSet", "kube-system/aws-iam-authenticator")["action"] == "update"
    router = _by_kind(plan, "DaemonSet", "kube-system/kube-router")
    assert router["action"] == "update"
    assert any("NoSchedule" in change for change in router["changes"])


def test_plan_in_service_account_mode_lists_the_service_accounts_and_their_secrets(local_system: LocalSystem) -> None:
    # Given a cluster without aws-iam-authenticator (kOps' default)
    cluster = local_system.add_cluster(ClusterSpec.parse("plan-sa.k8s.local:kops=1.21,nodes=1,auth=none"))
    # When it is planned
    plan = _plan(local_system, cluster)
    # Then the vendor's and the drainer's ServiceAccounts and the vendor's kubeconfig secret are to be created,
    # and nothing maps IAM identities
    actions = _actions(plan)
    assert plan["identity_mode"] == "service-account" and plan["identity_backend"] is None
    assert actions[("ServiceAccount", f"kube-system/cast-kops-{cluster.name}")] == "create"
    assert actions[("ServiceAccount", "kube-system/kops-onboard-spot-drainer")] == "create"
    assert actions[("secret", f"kops-onboard/clusters/{cluster.name}/vendor-kubeconfig")] == "create"
    assert not any(kind == "ConfigMap" and "aws-auth" in name for kind, name in actions)


def test_plan_lists_what_onboarding_would_refuse_with_its_error_and_still_succeeds(local_system: LocalSystem) -> None:
    # Given a fresh cluster whose user name and key pair name someone else took (no managed-by tag)
    cluster = local_system.add_cluster(ClusterSpec.parse("plan-foreign.k8s.local:kops=1.21,nodes=1"))
    user = f"cast-kops-{cluster.name}"
    iam, ec2 = local_system.aws.client("iam"), local_system.aws.client("ec2")
    iam.create_user(UserName=user)
    ec2.create_key_pair(KeyName=user)
    onboarding = _execute(local_system, cluster.onboard_input())
    try:
        # When it is planned
        plan = _plan(local_system, cluster)
        # Then the user and the key pair are refused with why, as onboarding refuses them, and the rest is planned
        refused = {(r["kind"], r["name"]): r["reason"] for r in plan["resources"] if r["action"] == "refuse"}
        assert set(refused) == {("iam-user", user), ("ec2-key-pair", user)}
        assert "was not created by kops-onboard" in refused[("iam-user", user)]
        assert "adopt_existing" in refused[("iam-user", user)]
        assert "its private key is not in secret" in refused[("ec2-key-pair", user)]
        assert onboarding.status == "FAILED" and onboarding.error == "ForeignEntity"
        # And with adopt_existing the user is planned as adopted instead
        adopted = _by_kind(_plan(local_system, cluster, adopt_existing=True), "iam-user", user)
        assert adopted["action"] == "update" and adopted["changes"][0].startswith("adopt:")
    finally:
        iam.delete_user(UserName=user)
        ec2.delete_key_pair(KeyName=user)
