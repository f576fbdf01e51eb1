"""The scheduled drift check as deployed: one cluster onboarded through the synthesized state machine, the
check's schedule fired like EventBridge would, the real function running as its own role. Each test makes one
hand edit, checks the drift the function recorded in the registry, its metrics against the stack's alarm, and
then repairs it: an ordinary rerun of onboarding for what onboarding converges, by hand for what onboarding
never makes (it leaves keys and policies others added in place)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from boto3.dynamodb.types import TypeDeserializer

from kops_lambda.constants import AGENT_NAME, AGENT_NAMESPACE, SPOT_ROLE_NAME, access_key_secret_name
from kops_lambda.logic import policies
from kops_lambda.logic.cluster.rbac import CAST_SERVICE_ROLE
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.registry import cluster_key
from kops_local.system import LocalCluster, LocalSystem
from tests.e2e import spot_support as support

SPEC = "drift.k8s.local:kops=1.21,nodes=1,pods=2,spot=0,auth=eksconfigmap"
WIDE_OPEN = {"Sid": "HandAdded", "Effect": "Allow", "Action": "iam:*", "Resource": "*"}


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return support.onboard(local_system, SPEC, name_prefix="drift")


@pytest.fixture(scope="module")
def alarms(local_system: LocalSystem) -> dict[str, dict[str, Any]]:
    template = json.loads(local_system.template.read_text())
    return {
        r["Properties"]["MetricName"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") in {"DriftedClusters", "AccessWideningClusters"}
    }


def fire_drift_check(system: LocalSystem, cluster: LocalCluster) -> dict[str, Any]:
    """Run the drift check's schedule now; the result it recorded in the cluster's registry item."""
    assert system.stack is not None
    (rule,) = (
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Events::Rule" and logical_id.startswith("DriftCheck")
    )
    system.aws.fire_scheduled_rule(rule)
    system.aws.drain_event_sources(timeout=300)
    item = system.aws.client("dynamodb").get_item(
        TableName=system.output("RegistryTableName"),
        Key={"cluster_key": {"S": cluster_key(system.region, cluster.name)}},
        ConsistentRead=True,
    )["Item"]
    drift: dict[str, Any] = TypeDeserializer().deserialize(item["drift"])
    return drift


def last_metric(system: LocalSystem, name: str) -> float:
    return support.emf_metric(system, name)[-1]


def assert_alarm(system: LocalSystem, alarm: dict[str, Any], metric: str) -> None:
    """The alarm's metric, as the template defines the alarm, is at its threshold (moto evaluates no alarm)."""
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Statistic"] == "Maximum"
    assert last_metric(system, metric) >= alarm["Threshold"] == 1


def reonboard(system: LocalSystem, cluster: LocalCluster) -> None:
    result = support.run_onboarding(system, cluster, name_prefix="drift-repair")
    assert result.status == "SUCCEEDED", (result.error, result.cause)


def test_an_onboarded_cluster_has_no_drift(local_system: LocalSystem, cluster: LocalCluster) -> None:
    # When the drift check runs on a cluster just onboarded
    drift = fire_drift_check(local_system, cluster)
    # Then nothing drifted (the secrets' resource policies included) and nothing alarms
    assert drift["error"] is None and drift["resources"] == [], drift
    assert last_metric(local_system, "DriftedClusters") == 0
    assert last_metric(local_system, "AccessWideningClusters") == 0
    assert last_metric(local_system, "DriftCheckFailures") == 0


# ---- The hand edits (an ordinary rerun of onboarding repairs every one) ----


def _cluster_policy_arn(system: LocalSystem, cluster: LocalCluster) -> str:
    iam, user = system.aws.client("iam"), user_name(cluster.name)
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    return next(p["PolicyArn"] for p in attached if policies.is_cluster_policy(p["PolicyName"], user))


def loosen_policy(system: LocalSystem, cluster: LocalCluster) -> None:
    iam, arn = system.aws.client("iam"), _cluster_policy_arn(system, cluster)
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    document["Statement"] = [*document["Statement"], WIDE_OPEN]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)


def attach_extra_policy(system: LocalSystem, cluster: LocalCluster) -> None:
    iam, user = system.aws.client("iam"), user_name(cluster.name)
    arn = iam.create_policy(
        PolicyName="drift-hand-made", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [WIDE_OPEN]})
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)


def second_access_key(system: LocalSystem, cluster: LocalCluster) -> None:
    iam, user = system.aws.client("iam"), user_name(cluster.name)
    iam.create_access_key(UserName=user)


def only_the_stored_key_is_active(system: LocalSystem, cluster: LocalCluster) -> None:
    """The other key is deactivated, never deleted (it may be evidence); the stored one is the active one."""
    keys = system.aws.client("iam").list_access_keys(UserName=user_name(cluster.name))["AccessKeyMetadata"]
    stored = json.loads(
        system.aws.client("secretsmanager").get_secret_value(SecretId=access_key_secret_name(cluster.name))[
            "SecretString"
        ]
    )["AccessKeyId"]
    assert sorted((k["AccessKeyId"] == stored, k["Status"]) for k in keys) == [(False, "Inactive"), (True, "Active")]


def role_inline_policy(system: LocalSystem, cluster: LocalCluster) -> None:
    iam = system.aws.client("iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [WIDE_OPEN]})
    iam.put_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName="HandMade", PolicyDocument=document)


def _edit_our_mapping(
    system: LocalSystem,
    cluster: LocalCluster,
    change: Callable[[list[dict[str, Any]], str], list[dict[str, Any]]],
) -> None:
    ours = f"arn:aws:iam::{system.aws.account_id}:user/{user_name(cluster.name)}"

    def edit(configmap: dict[str, Any]) -> None:
        entries = yaml.safe_load(configmap["data"].get("mapUsers") or "[]") or []
        configmap["data"]["mapUsers"] = yaml.safe_dump(change(entries, ours))

    cluster.api_server.store.mutate("v1/configmaps", "kube-system", "aws-auth", edit)


def remove_mapping(system: LocalSystem, cluster: LocalCluster) -> None:
    _edit_our_mapping(system, cluster, lambda entries, ours: [e for e in entries if e.get("userarn") != ours])


def widen_mapping(system: LocalSystem, cluster: LocalCluster) -> None:
    def widen(entries: list[dict[str, Any]], ours: str) -> list[dict[str, Any]]:
        return [{**e, "groups": [*e["groups"], "system:masters"]} if e.get("userarn") == ours else e for e in entries]

    _edit_our_mapping(system, cluster, widen)


def widen_cluster_role(system: LocalSystem, cluster: LocalCluster) -> None:
    def widen(role: dict[str, Any]) -> None:
        role["rules"] = [*role["rules"], {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]

    cluster.api_server.store.mutate("rbac.authorization.k8s.io/v1/clusterroles", None, CAST_SERVICE_ROLE, widen)


def change_agent_deployment(system: LocalSystem, cluster: LocalCluster) -> None:
    def change(deployment: dict[str, Any]) -> None:
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/other:1"

    cluster.api_server.store.mutate("apps/v1/deployments", AGENT_NAMESPACE, AGENT_NAME, change)


def open_secret_policy(system: LocalSystem, cluster: LocalCluster) -> None:
    sm, name = system.aws.client("secretsmanager"), access_key_secret_name(cluster.name)
    opened = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Everyone",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ],
    }
    sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(opened))


@dataclass(frozen=True)
class Edit:
    make: Callable[[LocalSystem, LocalCluster], None]
    kind: str
    name: Callable[[LocalCluster], str]
    widens: bool
    why: str  # a part of the widening (or change) line expected
    repaired: Callable[[LocalSystem, LocalCluster], None] | None = None  # what the rerun left, beyond no drift


EDITS = {
    "policy-loosened": Edit(
        loosen_policy, "iam-policy", lambda c: f"{user_name(c.name)}-policy-", True, "statement HandAdded added"
    ),
    "extra-user-policy": Edit(
        attach_extra_policy, "iam-user", lambda c: user_name(c.name), True, "drift-hand-made attached"
    ),
    "second-access-key": Edit(
        second_access_key,
        "iam-access-key",
        lambda c: user_name(c.name),
        True,
        "another credential",
        repaired=only_the_stored_key_is_active,
    ),
    "role-inline-policy": Edit(
        role_inline_policy, "iam-role-policy", lambda c: f"{SPOT_ROLE_NAME}/HandMade", True, "inline policy HandMade"
    ),
    "mapping-removed": Edit(remove_mapping, "ConfigMap", lambda c: "kube-system/aws-auth", False, "added"),
    "mapping-widened": Edit(
        widen_mapping, "ConfigMap", lambda c: "kube-system/aws-auth", True, "group system:masters added"
    ),
    "rbac-rule-added": Edit(
        widen_cluster_role, "ClusterRole", lambda c: CAST_SERVICE_ROLE, True, "rule added: get secrets"
    ),
    "agent-deployment-changed": Edit(
        change_agent_deployment, "Deployment", lambda c: f"{AGENT_NAMESPACE}/{AGENT_NAME}", False, "set spec"
    ),
    "secret-policy-changed": Edit(
        open_secret_policy, "secret-resource-policy", lambda c: access_key_secret_name(c.name), True, "Everyone added"
    ),
}


@pytest.mark.parametrize("edit_name", list(EDITS))
def test_each_drift_kind_is_reported_alarms_and_is_repaired(
    local_system: LocalSystem, cluster: LocalCluster, alarms: dict[str, dict[str, Any]], edit_name: str
) -> None:
    edit = EDITS[edit_name]
    # Given a hand edit of something onboarding made (or of our identities)
    edit.make(local_system, cluster)
    # When the drift check runs
    drift = fire_drift_check(local_system, cluster)
    # Then it names the resource, its kind, what differs and whether it widens access
    assert drift["error"] is None, drift
    matching = [r for r in drift["resources"] if r["kind"] == edit.kind and r["name"].startswith(edit.name(cluster))]
    assert len(matching) == 1, drift
    found = matching[0]
    assert found["widens_access"] is edit.widens, found
    lines = found["widening"] if edit.widens else found["changes"]
    assert any(edit.why in line for line in lines), found
    # And the cluster's metric and the alarms' metrics are at the alarms' thresholds
    assert last_metric(local_system, "DriftedResources") >= 1
    assert_alarm(local_system, alarms["DriftedClusters"], "DriftedClusters")
    if edit.widens:
        assert last_metric(local_system, "AccessWideningDrift") >= 1
        assert_alarm(local_system, alarms["AccessWideningClusters"], "AccessWideningClusters")
    else:
        assert last_metric(local_system, "AccessWideningClusters") == 0
    # When onboarding is run again, as it was
    reonboard(local_system, cluster)
    if edit.repaired is not None:
        edit.repaired(local_system, cluster)
    # Then the next check finds no drift
    again = fire_drift_check(local_system, cluster)
    assert again["error"] is None and again["resources"] == [], again
    assert last_metric(local_system, "DriftedClusters") == 0
