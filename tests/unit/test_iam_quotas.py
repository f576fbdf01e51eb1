"""IAM's size quotas on every policy document onboarding writes, read back from the account.

moto accepts documents of any size; AWS refuses them (LimitExceeded) in a real account. IAM counts a document's
characters excluding whitespace, so that is what is measured here, for the longest cluster name the input model
accepts and a long VPC id, on the documents as onboarding wrote them.
"""

import json
from typing import Any

from pydantic import TypeAdapter

from kops_lambda.constants import SPOT_ROLE_NAME
from kops_lambda.logic.iam_entities import ensure_iam_entities
from kops_lambda.logic.iam_names import user_name
from kops_lambda.models.onboarding import ClusterName

ACCOUNT = "123456789012"
# 253 characters, the input model's limit: four DNS labels (63 + 63 + 63 + 61) and their dots.
LONGEST_CLUSTER = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
LONG_VPC = "vpc-0123456789abcdef0"
# The longest region names of the commercial partition.
REGION = "ap-southeast-1"

USER_INLINE_LIMIT = 2_048
MANAGED_POLICY_LIMIT = 6_144
USER_ATTACHMENT_LIMIT = 10
ROLE_INLINE_LIMIT = 10_240
TRUST_POLICY_LIMIT = 2_048
# The shared policy is the same for every cluster but grows with the partition's name (`aws-us-gov` is 7
# characters longer than `aws` in each ARN): it keeps this much room below the quota.
SHARED_POLICY_HEADROOM = 300


def iam_size(document: Any) -> int:
    """Characters of the document as IAM counts them: JSON without whitespace."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len("".join(text.split()))


def _onboard_longest(iam: Any) -> str:
    assert len(TypeAdapter(ClusterName).validate_python(LONGEST_CLUSTER)) == 253
    ensure_iam_entities(
        iam,
        partition="aws",
        account=ACCOUNT,
        region=REGION,
        cluster_name=LONGEST_CLUSTER,
        vpc_id=LONG_VPC,
        include_s3_read=True,
    )
    return user_name(LONGEST_CLUSTER)


def _customer_managed(iam: Any) -> dict[str, Any]:
    """Every customer managed policy's default document, by name."""
    documents = {}
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
            documents[policy["PolicyName"]] = version["PolicyVersion"]["Document"]
    return documents


def test_the_users_inline_policies_fit_together(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    name = _onboard_longest(iam)
    inline = [
        iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]
    ]
    assert sum(iam_size(document) for document in inline) <= USER_INLINE_LIMIT


def test_every_customer_managed_policy_fits(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _onboard_longest(iam)
    sizes = {policy: iam_size(document) for policy, document in _customer_managed(iam).items()}
    # The cluster's allows are there (not lost to fit), in policies named for it
    assert any(policy.startswith(user_name(LONGEST_CLUSTER)) for policy in sizes), sizes
    assert {policy: size for policy, size in sizes.items() if size > MANAGED_POLICY_LIMIT} == {}


def test_the_shared_policy_keeps_headroom_for_longer_partitions(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _onboard_longest(iam)
    assert iam_size(_customer_managed(iam)["CASTKopsPolicyV2"]) <= MANAGED_POLICY_LIMIT - SHARED_POLICY_HEADROOM


def test_the_user_has_no_more_attached_policies_than_the_default_quota(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    name = _onboard_longest(iam)
    # With the S3 opt-in, the most onboarding attaches
    attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    assert len(attached) <= USER_ATTACHMENT_LIMIT


def test_the_spot_roles_documents_fit(aws_iam: Any) -> None:
    iam = aws_iam("iam")
    _onboard_longest(iam)
    inline = [
        iam.get_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=SPOT_ROLE_NAME)["PolicyNames"]
    ]
    assert sum(iam_size(document) for document in inline) <= ROLE_INLINE_LIMIT
    trust = iam.get_role(RoleName=SPOT_ROLE_NAME)["Role"]["AssumeRolePolicyDocument"]
    assert iam_size(trust) <= TRUST_POLICY_LIMIT
