"""AWS side of rollback and offboarding on moto: IAM (user, shared policy and its versions, Spot role),
secrets, and the registry's before-image, against a baseline taken before the change."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from kops_lambda.logic.iam_entities import ensure_iam_entities
from kops_lambda.logic.registry import record_onboarding
from kops_lambda.logic.registry.rollback import find_cluster, other_clusters, record_offboarded, rollback_registry
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.baseline import baseline_key, load_baseline, snapshot_aws
from kops_lambda.logic.rollback.credentials import offboard_access_key
from kops_lambda.logic.rollback.iam import offboard_shared, offboard_user, rollback_iam
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.registry import RegisteredCluster
from kops_lambda.models.rollback import Baseline, ClusterBaseline
from tests.rollback.account_state import iam_state, registry_state

from .conftest import ACCOUNT, REGION, create_registry

Clients = Callable[[str], Any]
CLUSTER = "a.k8s.local"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:onboarding:run-1"
SHARED_ARN = f"arn:aws:iam::{ACCOUNT}:policy/CASTKopsPolicyV2"
KUBECONFIG = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kops-onboard/clusters/{CLUSTER}/kubeconfig-AbCdEf"


def _baseline(aws: Clients, table: Any, *, cluster: str = CLUSTER) -> Baseline:
    """What RecordBaseline stores (without the cluster part, which these tests do not touch)."""
    key = f"{REGION}#{cluster}"
    item = table.get_item(Key={"cluster_key": key}).get("Item")
    baseline = Baseline(
        execution_id=EXECUTION,
        cluster_key=key,
        cluster_name=cluster,
        region=REGION,
        kubeconfig_secret_arn=KUBECONFIG,
        taken_at="2026-11-25T00:00:00+00:00",
        registry_item=json.loads(json.dumps(item, default=int)) if item else None,
        aws=snapshot_aws(
            aws("iam"), aws("ec2"), aws("secretsmanager"), partition="aws", account=ACCOUNT, cluster_name=cluster
        ),
        cluster=ClusterBaseline(
            configmaps=[], authenticator_annotations=None, kube_router_tolerations=None, objects=[]
        ),
    )
    table.put_item(
        Item={
            "cluster_key": baseline_key(EXECUTION),
            "for_cluster": key,
            "baseline": baseline.model_dump(mode="json"),
        }
    )
    return baseline


def _onboard_iam(aws: Clients, cluster: str = CLUSTER) -> Any:
    return ensure_iam_entities(
        aws("iam"), partition="aws", account=ACCOUNT, region=REGION, cluster_name=cluster, vpc_id="vpc-0abc"
    )


def _register(table: Any, cluster: str, execution_id: str = "arn:other", status: str = "ONBOARDED") -> None:
    record_onboarding(
        table,
        region=REGION,
        cluster_name=cluster,
        execution_id=execution_id,
        kubeconfig_secret_arn=KUBECONFIG,
        facts={"vpc_id": "vpc-0abc", "kops_version": "1.21.0"},
        admin_kubeconfig={"credential": "token", "expires_at": None},
    )
    table.update_item(
        Key={"cluster_key": f"{REGION}#{cluster}"},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": status},
    )


# ---- IAM ----


def test_a_full_iam_step_is_undone_shared_entities_included(iam_account: Clients) -> None:
    # Given an empty account and the baseline taken in it
    table = create_registry(iam_account("dynamodb"))
    before = iam_state(iam_account("iam"))
    baseline = _baseline(iam_account, table)
    _onboard_iam(iam_account)
    # When the IAM step is rolled back
    summary = rollback_iam(iam_account("iam"), table, baseline)
    # Then IAM is as it was: the user, the policy and the role all went (nobody else uses them)
    assert iam_state(iam_account("iam")) == before
    assert {"IAM user cast-kops-a.k8s.local", "IAM policy CASTKopsPolicyV2", "IAM role CastLambdaRoleForSpot"} <= set(
        summary.removed
    )


def test_a_user_a_partial_step_left_behind_is_removed(iam_account: Clients) -> None:
    # Given a baseline, then a step that created the user and attached one policy before it died
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    before = iam_state(iam)
    baseline = _baseline(iam_account, table)
    iam.create_user(UserName="cast-kops-a.k8s.local", Tags=[{"Key": "managed-by", "Value": "kops-onboard"}])
    iam.attach_user_policy(UserName="cast-kops-a.k8s.local", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    # and one of the cluster's managed policies it had not attached yet
    iam.create_policy(
        PolicyName="cast-kops-a.k8s.local-policy-1",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
        ),
        Tags=[{"Key": "managed-by", "Value": "kops-onboard"}],
    )
    # When rolled back (the registry recorded nothing of it), then the user and the policy are gone all the same
    rollback_iam(iam, table, baseline)
    assert iam_state(iam) == before


def test_changes_to_an_existing_user_are_reverted(iam_account: Clients) -> None:
    # Given a user onboarded earlier that drifted: one policy detached, the seed's inline policy put back on it
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    _onboard_iam(iam_account)
    _register(table, CLUSTER)
    name = "cast-kops-a.k8s.local"
    iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    edited = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="CASTKopsRestrictedaccess", PolicyDocument=json.dumps(edited))
    before = iam_state(iam)
    baseline = _baseline(iam_account, table)
    # When a rerun converges the user again, then fails, and is rolled back
    _onboard_iam(iam_account)
    summary = rollback_iam(iam, table, baseline)
    # Then the user is as it was before the rerun, the inline policy the rerun removed included (this rollback
    # does not judge the drift)
    assert iam_state(iam) == before
    assert "inline policy CASTKopsRestrictedaccess of IAM user cast-kops-a.k8s.local" in summary.restored


def _outdated_shared_policy(iam: Any) -> None:
    outdated = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"}],
    }
    iam.create_policy(
        PolicyName="CASTKopsPolicyV2",
        PolicyDocument=json.dumps(outdated),
        Tags=[{"Key": "managed-by", "Value": "kops-onboard"}],
    )


def test_a_new_policy_version_is_reverted_when_no_other_cluster_uses_it(iam_account: Clients) -> None:
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    _outdated_shared_policy(iam)
    baseline = _baseline(iam_account, table)
    assert _onboard_iam(iam_account).shared_policy_version_created == "v2"
    rollback_iam(iam, table, baseline)
    versions = iam.list_policy_versions(PolicyArn=SHARED_ARN)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v1", True)]


def test_with_another_cluster_onboarded_the_policy_version_and_the_role_stay(iam_account: Clients) -> None:
    # Given another onboarded cluster, and this cluster's run that added a policy version
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    _outdated_shared_policy(iam)
    _onboard_iam(iam_account, "b.k8s.local")
    _register(table, "b.k8s.local")
    iam.create_policy_version(
        PolicyArn=SHARED_ARN,
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
        ),
        SetAsDefault=True,
    )
    baseline = _baseline(iam_account, table)
    added = _onboard_iam(iam_account).shared_policy_version_created
    # When it is rolled back
    summary = rollback_iam(iam, table, baseline)
    # Then only this cluster's user went: the version the other cluster now runs on stays the default
    assert "cast-kops-a.k8s.local" not in iam_state(iam)["users"]
    assert iam.get_policy(PolicyArn=SHARED_ARN)["Policy"]["DefaultVersionId"] == added == "v4"
    assert any("used by 1 other cluster(s)" in line for line in summary.kept)


def test_offboarding_shared_entities_waits_for_the_last_user(iam_account: Clients) -> None:
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    _onboard_iam(iam_account)
    _register(table, CLUSTER)
    own = f"{REGION}#{CLUSTER}"
    # A foreign role attached to the policy keeps it; the role (ours, no other cluster) goes
    iam.create_role(RoleName="foreign", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="foreign", PolicyArn=SHARED_ARN)
    offboard_user(iam, cluster_name=CLUSTER)
    summary = offboard_shared(iam, table, own_key=own, partition="aws", account=ACCOUNT)
    assert "IAM policy CASTKopsPolicyV2: attached to role/foreign" in summary.kept
    assert "IAM role CastLambdaRoleForSpot" in summary.removed
    # Once nothing else uses it, it goes too
    iam.detach_role_policy(RoleName="foreign", PolicyArn=SHARED_ARN)
    summary = offboard_shared(iam, table, own_key=own, partition="aws", account=ACCOUNT)
    assert summary.removed == ["IAM policy CASTKopsPolicyV2"]
    assert aws_state.policy_snapshot(iam, SHARED_ARN) is None


def test_a_user_not_made_by_us_is_never_offboarded(account: Clients) -> None:
    iam = account("iam")
    iam.create_user(UserName="cast-kops-a.k8s.local")
    summary = offboard_user(iam, cluster_name=CLUSTER)
    assert summary.removed == [] and "not created by kops-onboard" in summary.kept[0]
    assert iam.get_user(UserName="cast-kops-a.k8s.local")


# ---- Secrets ----


def test_a_secret_gets_its_previous_value_back_or_goes_if_it_is_new(account: Clients) -> None:
    sm = account("secretsmanager")
    sm.create_secret(Name="kops-onboard/clusters/a/access-key", SecretString="before")
    existing = aws_state.secret_snapshot(sm, "kops-onboard/clusters/a/access-key")
    absent = aws_state.secret_snapshot(sm, "kops-onboard/clusters/a/ssh-private-key")
    sm.put_secret_value(SecretId="kops-onboard/clusters/a/access-key", SecretString="after")
    sm.create_secret(Name="kops-onboard/clusters/a/ssh-private-key", SecretString="new")
    report = Report()
    aws_state.revert_secret(sm, existing, report)
    aws_state.revert_secret(sm, absent, report)
    # By stage: moto's UpdateSecretVersionStage moves the label but not the version a stage-less read returns
    current = sm.get_secret_value(SecretId="kops-onboard/clusters/a/access-key", VersionStage="AWSCURRENT")
    assert current["SecretString"] == "before"
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="kops-onboard/clusters/a/ssh-private-key")
    # Idempotent: a second pass finds nothing to do
    again = Report()
    aws_state.revert_secret(sm, existing, again)
    aws_state.revert_secret(sm, absent, again)
    assert again.summary().removed == [] and again.summary().restored == []


def test_offboarding_schedules_secret_deletion_once(account: Clients) -> None:
    sm = account("secretsmanager")
    sm.create_secret(Name="kops-onboard/clusters/a/access-key", SecretString="x")
    first, second = Report(), Report()
    aws_state.delete_secret(sm, "kops-onboard/clusters/a/access-key", recovery_days=7, report=first)
    aws_state.delete_secret(sm, "kops-onboard/clusters/a/access-key", recovery_days=7, report=second)
    assert "scheduled for deletion in 7 days" in first.removed[0]
    assert second.removed == [] and "already scheduled" in second.kept[0]


# ---- Registry ----


def test_registry_rollback_puts_the_item_back_and_discards_the_baseline(account: Clients) -> None:
    # Given an onboarded cluster, its baseline, then this execution's writes over its item
    table = create_registry(account("dynamodb"))
    _register(table, CLUSTER)
    before = registry_state(account("dynamodb"), "registry")
    _baseline(account, table)
    record_onboarding(
        table,
        region=REGION,
        cluster_name=CLUSTER,
        execution_id=EXECUTION,
        kubeconfig_secret_arn=KUBECONFIG,
        facts={},
        admin_kubeconfig={"credential": "token", "expires_at": None},
    )
    # When rolled back
    summary = rollback_registry(table, execution_id=EXECUTION)
    # Then the item is as it was (status ONBOARDED), and the baseline is gone
    assert registry_state(account("dynamodb"), "registry") == before
    assert summary.restored == [f"registry item {REGION}#{CLUSTER} (status ONBOARDED)"]
    assert load_baseline(table, EXECUTION) is None
    # And again: nothing of this execution is left to undo
    assert rollback_registry(table, execution_id=EXECUTION).kept


def test_registry_rollback_removes_a_first_item_unless_another_execution_took_over(account: Clients) -> None:
    table = create_registry(account("dynamodb"))
    _baseline(account, table)
    _register(table, CLUSTER, execution_id="arn:a-later-execution", status="ONBOARDING")
    summary = rollback_registry(table, execution_id=EXECUTION)
    assert "another execution has taken the cluster over" in summary.kept[0]
    assert table.get_item(Key={"cluster_key": f"{REGION}#{CLUSTER}"}).get("Item") is not None
    # Without that later execution, the item this execution created goes
    table.delete_item(Key={"cluster_key": f"{REGION}#{CLUSTER}"})
    _baseline(account, table)
    _register(table, CLUSTER, execution_id=EXECUTION, status="ONBOARDING")
    rollback_registry(table, execution_id=EXECUTION)
    assert registry_state(account("dynamodb"), "registry") == {}


def test_offboarded_clusters_and_baselines_are_not_other_clusters(account: Clients) -> None:
    table = create_registry(account("dynamodb"))
    _register(table, CLUSTER)
    _register(table, "b.k8s.local")
    _register(table, "c.k8s.local", status="OFFBOARDED")
    _baseline(account, table, cluster="d.k8s.local")
    assert other_clusters(table, f"{REGION}#{CLUSTER}") == [f"{REGION}#b.k8s.local"]


def test_offboarding_leaves_a_tombstone_that_finds_the_cluster_again(account: Clients) -> None:
    table = create_registry(account("dynamodb"))
    _register(table, CLUSTER)
    _baseline(account, table)
    found = find_cluster(table, region=REGION, cluster_name=CLUSTER)
    record_offboarded(table, cluster=found, execution_id="arn:offboarding")
    again = find_cluster(table, region=REGION, cluster_name=CLUSTER)
    assert again == RegisteredCluster(
        cluster_key=found.cluster_key,
        cluster_name=CLUSTER,
        region=REGION,
        status="OFFBOARDED",
        kubeconfig_secret_arn=KUBECONFIG,
    )
    item = table.get_item(Key={"cluster_key": found.cluster_key})["Item"]
    assert "resources" not in item and "facts" not in item
    assert load_baseline(table, EXECUTION) is None


def _vendor_made(iam: Any) -> str:
    """What the vendor's script leaves: untagged user with an access key, CASTKopsPolicyV2, CastLambdaRoleForSpot."""
    iam.create_user(UserName=f"cast-kops-{CLUSTER}")
    key_id = str(iam.create_access_key(UserName=f"cast-kops-{CLUSTER}")["AccessKey"]["AccessKeyId"])
    vendor_document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    iam.create_policy(PolicyName="CASTKopsPolicyV2", PolicyDocument=json.dumps(vendor_document))
    iam.create_role(RoleName="CastLambdaRoleForSpot", AssumeRolePolicyDocument="{}")
    for arn in (
        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
    ):
        iam.attach_role_policy(RoleName="CastLambdaRoleForSpot", PolicyArn=arn)
    return key_id


def test_offboarding_an_adopted_cluster_restores_what_adoption_changed(iam_account: Clients) -> None:
    iam, table = iam_account("iam"), create_registry(iam_account("dynamodb"))
    vendor_key = _vendor_made(iam)
    # Given a cluster onboarded with adopt_existing, which then got an access key of ours
    ensure_iam_entities(
        iam,
        partition="aws",
        account=ACCOUNT,
        region=REGION,
        cluster_name=CLUSTER,
        vpc_id="vpc-0abc",
        adopt_existing=True,
    )
    our_key = iam.create_access_key(UserName=f"cast-kops-{CLUSTER}")["AccessKey"]["AccessKeyId"]
    _register(table, CLUSTER)
    own = f"{REGION}#{CLUSTER}"
    # When it is offboarded
    keys = offboard_access_key(iam, iam_account("secretsmanager"), cluster_name=CLUSTER, recovery_days=7)
    user = offboard_user(iam, cluster_name=CLUSTER)
    shared = offboard_shared(iam, table, own_key=own, partition="aws", account=ACCOUNT)
    # Then only our access key went; the vendor's key and the user stay, and the summary says what is left
    remaining = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=f"cast-kops-{CLUSTER}")["AccessKeyMetadata"]]
    assert remaining == [vendor_key] and f"access key {our_key} of IAM user cast-kops-{CLUSTER}" in keys.removed
    assert "adopted at onboarding" in user.kept[0] and vendor_key in user.kept[0]
    assert "managed-by" not in aws_state.tags_of(iam.list_user_tags(UserName=f"cast-kops-{CLUSTER}")["Tags"])
    # And the policy's default is the vendor's version again, ours removed
    versions = iam.list_policy_versions(PolicyArn=SHARED_ARN)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v1", True)]
    # And the role has the seed's policies back and none of ours
    attached = {
        p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    }
    assert {"CloudWatchLogsFullAccess", "AWSLambdaRole"} <= attached
    assert iam.list_role_policies(RoleName="CastLambdaRoleForSpot")["PolicyNames"] == []
    assert "IAM role CastLambdaRoleForSpot: policy AWSLambdaRole attached again" in shared.restored
