"""IAM entities on moto: end state, idempotency, policy versioning, name truncation, shared objects."""

import json
from typing import Any

import pytest

from kops_lambda.errors import ForeignEntity
from kops_lambda.logic import policies
from kops_lambda.logic.iam_entities import ensure_iam_entities
from kops_lambda.logic.iam_names import user_name

ACCOUNT = "123456789012"
SHARED_ARN = f"arn:aws:iam::{ACCOUNT}:policy/CASTKopsPolicyV2"


def _default_document(iam: Any, arn: str) -> Any:
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]


def _ensure(iam: Any, cluster: str = "a.k8s.local", vpc: str = "vpc-0abc", **kwargs: Any) -> Any:
    return ensure_iam_entities(
        iam, partition="aws", account=ACCOUNT, region="us-east-1", cluster_name=cluster, vpc_id=vpc, **kwargs
    )


def test_first_run_creates_everything(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    # When onboarding IAM for a cluster in an empty account
    result = _ensure(iam)
    # Then the user exists, tagged, with the four managed policies and the shared one attached
    assert result.user_name == "cast-kops-a.k8s.local" and result.user_created
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=result.user_name)["Tags"]}
    assert tags == {"managed-by": "kops-onboard", "cluster": "a.k8s.local"}
    attached = {p["PolicyName"] for p in iam.list_attached_user_policies(UserName=result.user_name)["AttachedPolicies"]}
    own = {arn.rsplit("/", 1)[-1] for arn in result.cluster_policy_arns}
    assert own and all(name.startswith("cast-kops-a.k8s.local-policy-") for name in own)
    assert attached == {*policies.MANAGED_POLICIES, "CASTKopsPolicyV2", *own}
    # And the cluster's policies name the cluster and its VPC, are tagged for it, and no inline policy is left
    text = json.dumps([_default_document(iam, arn) for arn in result.cluster_policy_arns])
    assert "a.k8s.local" in text and "vpc/vpc-0abc" in text
    for arn in result.cluster_policy_arns:
        tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
        assert tags == {"managed-by": "kops-onboard", "cluster": "a.k8s.local"}
    assert iam.list_user_policies(UserName=result.user_name)["PolicyNames"] == []
    # And the Spot role trusts Lambda, reads EC2 and holds the scoped logs/invoke policy, not AWSLambdaRole
    role = iam.get_role(RoleName="CastLambdaRoleForSpot")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    role_policies = {
        p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    }
    assert role_policies == {"AmazonEC2ReadOnlyAccess"}
    assert iam.list_role_policies(RoleName="CastLambdaRoleForSpot")["PolicyNames"] == ["CastLambdaRoleForSpotScoped"]
    # And the node boundary exists
    assert iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/CASTKopsNodeBoundary")["Policy"]
    assert result.shared_policy_created and result.spot_role_created
    assert result.cluster_policies_created == result.cluster_policy_arns and not result.legacy_inline_policy_removed


def test_rerun_changes_nothing(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    first = _ensure(iam)
    second = _ensure(iam)
    assert second.user_arn == first.user_arn
    assert not (second.user_created or second.shared_policy_created or second.spot_role_created)
    assert second.attached_policy_arns == [] and second.shared_policy_version_created is None
    assert len(iam.list_policy_versions(PolicyArn=SHARED_ARN)["Versions"]) == 1


def test_s3_read_only_on_opt_in(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    assert "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" not in _ensure(iam).managed_policy_arns
    opted = _ensure(iam, cluster="b.k8s.local", include_s3_read=True)
    assert "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" in opted.attached_policy_arns


def test_two_clusters_share_policy_and_role_but_not_users(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    one, two = (
        _ensure(iam, cluster="one.k8s.local", vpc="vpc-1"),
        _ensure(iam, cluster="two.k8s.local", vpc="vpc-2"),
    )
    assert one.user_name != two.user_name
    assert one.shared_policy_arn == two.shared_policy_arn and one.spot_role_arn == two.spot_role_arn
    assert two.shared_policy_created is False and two.spot_role_created is False
    assert not set(one.cluster_policy_arns) & set(two.cluster_policy_arns)
    doc_two = json.dumps([_default_document(iam, arn) for arn in two.cluster_policy_arns])
    assert "one.k8s.local" not in doc_two and "vpc-1" not in doc_two


def test_changed_document_adds_a_default_version_and_prunes_the_oldest_non_default(
    aws_iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = aws_iam("iam")
    _ensure(iam)
    original = policies.shared_policy
    # Given six successive changes of the shared document
    for change in range(6):

        def changed(*, partition: str, account: str, _n: int = change) -> dict[str, Any]:
            document = original(partition=partition, account=account)
            document["Statement"][0]["Sid"] = f"NodeInstanceProfilesV{_n}"
            return document

        monkeypatch.setattr(policies, "shared_policy", changed)
        result = _ensure(iam)
        assert result.shared_policy_version_created is not None
    # Then IAM's limit of 5 versions holds, the newest is the default and the original v1 was pruned
    versions = iam.list_policy_versions(PolicyArn=SHARED_ARN)["Versions"]
    assert len(versions) == 5
    default = next(v for v in versions if v["IsDefaultVersion"])
    assert default["VersionId"] == result.shared_policy_version_created
    assert "v1" not in {v["VersionId"] for v in versions}


def test_a_changed_cluster_document_becomes_the_default_version(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    first = _ensure(iam)
    # When the cluster's VPC changes (another document for the same policy names)
    second = _ensure(iam, vpc="vpc-0def")
    # Then the same policies carry it as their new default version, none created again
    assert second.cluster_policy_arns == first.cluster_policy_arns and second.cluster_policies_created == []
    assert "vpc-0def" in json.dumps([_default_document(iam, arn) for arn in second.cluster_policy_arns])
    changed = [arn for arn in second.cluster_policy_arns if "vpc-0def" in json.dumps(_default_document(iam, arn))]
    assert {v["VersionId"] for v in iam.list_policy_versions(PolicyArn=changed[0])["Versions"]} == {"v1", "v2"}


def test_policies_no_longer_needed_are_detached_and_deleted(aws_iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    iam = aws_iam("iam")
    first = _ensure(iam)
    original = policies.cluster_policies

    def fewer(**kwargs: Any) -> list[dict[str, Any]]:
        return original(**kwargs)[:1]

    # When the cluster's statements pack into fewer policies than before
    monkeypatch.setattr(policies, "cluster_policies", fewer)
    second = _ensure(iam)
    # Then the extra ones are detached from the user and deleted
    assert second.cluster_policy_arns == first.cluster_policy_arns[:1]
    attached = {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=second.user_name)["AttachedPolicies"]}
    local = {p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
    for arn in first.cluster_policy_arns[1:]:
        assert arn not in attached and arn not in local


def test_the_seeds_inline_policy_is_removed(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    first = _ensure(iam)
    # Given the user still has the inline policy an earlier version of onboarding (or the seed) put on it
    iam.put_user_policy(
        UserName=first.user_name, PolicyName="CASTKopsRestrictedaccess", PolicyDocument=json.dumps(VENDOR_DOCUMENT)
    )
    # When onboarding runs again, then it is gone and the result says so
    assert _ensure(iam).legacy_inline_policy_removed
    assert iam.list_user_policies(UserName=first.user_name)["PolicyNames"] == []


def test_a_foreign_policy_with_the_clusters_name_is_refused(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    iam.create_policy(PolicyName="cast-kops-a.k8s.local-policy-1", PolicyDocument=json.dumps(VENDOR_DOCUMENT))
    # Even with adopt_existing: only the user, the shared policy and the Spot role are ever adopted
    with pytest.raises(ForeignEntity, match=r"cast-kops-a\.k8s\.local-policy-1"):
        _ensure(iam, adopt_existing=True)


def test_policies_attached_by_hand_are_detached_so_the_quota_holds(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    first = _ensure(iam)
    # Given two policies attached by hand, which bring the user to IAM's quota of 10
    assert len(first.managed_policy_arns) == 8
    hand_attached = [f"arn:aws:iam::aws:policy/{name}" for name in ("ReadOnlyAccess", "AmazonVPCReadOnlyAccess")]
    for arn in hand_attached:
        iam.attach_user_policy(UserName=first.user_name, PolicyArn=arn)
    # When the S3 opt-in needs one more
    second = _ensure(iam, include_s3_read=True)
    # Then the hand-attached ones are detached (onboarding never attaches them) and ours are all attached
    attached = {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=first.user_name)["AttachedPolicies"]}
    assert attached == set(second.managed_policy_arns) and len(attached) == 9
    assert second.removed_extras == [
        f"managed policy {arn} detached from IAM user {first.user_name}" for arn in sorted(hand_attached)
    ]


def test_long_cluster_name_is_truncated_deterministically(aws_iam: Any) -> None:
    cluster = "a-very-long-cluster-name-that-goes-on-and-on.production.k8s.example.co"
    assert len(cluster) == 70
    name = user_name(cluster)
    assert len(name) == 64 and name == user_name(cluster)
    assert name != user_name(cluster.replace("production", "productiom"))
    result = _ensure(aws_iam("iam"), cluster=cluster)
    assert result.user_name == name


def test_a_foreign_user_with_our_name_is_not_taken_over(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    iam.create_user(UserName="cast-kops-a.k8s.local")
    with pytest.raises(ForeignEntity, match="not created by kops-onboard"):
        _ensure(iam)


def test_seed_spot_role_policies_on_opt_in(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    # When the deployment opted into the seed's exact list
    _ensure(iam, seed_spot_role_policies=True)
    # Then the Spot role carries exactly the seed's three managed policies and no scoped inline one
    role_policies = {
        p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    }
    assert role_policies == {"CloudWatchLogsFullAccess", "AWSLambdaRole", "AmazonEC2ReadOnlyAccess"}
    assert iam.list_role_policies(RoleName="CastLambdaRoleForSpot")["PolicyNames"] == []


def _vendor_entities(iam: Any) -> None:
    """What the vendor's script leaves: an untagged CASTKopsPolicyV2 and CastLambdaRoleForSpot with its three."""
    iam.create_policy(PolicyName="CASTKopsPolicyV2", PolicyDocument=json.dumps(VENDOR_DOCUMENT))
    iam.create_role(
        RoleName="CastLambdaRoleForSpot",
        AssumeRolePolicyDocument=json.dumps(policies.spot_role_trust_policy(account=ACCOUNT)),
    )
    for name in policies.SEED_SPOT_ROLE_POLICIES:
        iam.attach_role_policy(RoleName="CastLambdaRoleForSpot", PolicyArn=policies.managed_policy_arn("aws", name))


VENDOR_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/*"}],
}


def test_vendor_entities_are_refused_without_adopt_existing(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _vendor_entities(iam)
    # When onboarding without adopt_existing, then the untagged policy is refused naming the setting
    with pytest.raises(ForeignEntity, match=r"CASTKopsPolicyV2.*adopt_existing: true"):
        _ensure(iam)
    # And nothing of it changed: no new version, the role keeps its three policies
    assert len(iam.list_policy_versions(PolicyArn=SHARED_ARN)["Versions"]) == 1
    attached = iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    assert len(attached) == 3


def test_vendor_spot_role_is_refused_without_adopt_existing(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _vendor_entities(iam)
    iam.delete_policy(PolicyArn=SHARED_ARN)
    with pytest.raises(ForeignEntity, match=r"CastLambdaRoleForSpot.*adopt_existing: true"):
        _ensure(iam)
    assert len(iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]) == 3


def test_adopt_existing_rewrites_vendor_entities_and_tags_them(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _vendor_entities(iam)
    # When onboarding with adopt_existing
    result = _ensure(iam, adopt_existing=True)
    # Then the policy's default version is ours and the vendor's is kept as v1
    assert result.shared_policy_version_created == "v2"
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=SHARED_ARN)["Tags"]}
    assert tags["kops-onboard-adopted"] == "v1"
    # And the role lost AWSLambdaRole and CloudWatchLogsFullAccess, which its tag records
    attached = iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonEC2ReadOnlyAccess"]
    role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="CastLambdaRoleForSpot")["Tags"]}
    assert sorted(role_tags["kops-onboard-adopted"].split(" ")) == ["AWSLambdaRole", "CloudWatchLogsFullAccess"]
