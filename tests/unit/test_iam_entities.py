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
    assert attached == {*policies.MANAGED_POLICIES, "CASTKopsPolicyV2"}
    # And the inline policy names the cluster and its VPC
    inline = iam.get_user_policy(UserName=result.user_name, PolicyName="CASTKopsRestrictedaccess")["PolicyDocument"]
    text = json.dumps(inline)
    assert "a.k8s.local" in text and "vpc/vpc-0abc" in text
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
    assert result.shared_policy_created and result.spot_role_created and result.inline_policy_created


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
    doc_two = json.dumps(
        iam.get_user_policy(UserName=two.user_name, PolicyName="CASTKopsRestrictedaccess")["PolicyDocument"]
    )
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
