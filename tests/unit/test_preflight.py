"""Checks before building, on moto: each refuses what a later step would fail on, with that step's error."""

from typing import Any

import pytest

from kops_lambda.constants import SHARED_POLICY_NAME, SPOT_ROLE_NAME
from kops_lambda.errors import AccessKeyLimit, ForeignEntity, KeyPairWithoutSecret, RegionNotCovered
from kops_lambda.logic.preflight import check_before_building, check_region_covered
from kops_lambda.models.registry import ClusterRecord

CLUSTER = "a.k8s.local"
USER = "cast-kops-a.k8s.local"
OURS = [{"Key": "managed-by", "Value": "kops-onboard"}]
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"}]}'


def _check(aws: Any, registered: ClusterRecord | None = None) -> None:
    check_before_building(
        aws("iam"),
        aws("ec2"),
        cluster_name=CLUSTER,
        registered=registered,
        partition="aws",
        account="123456789012",
    )


def _recorded_key(access_key_id: str) -> ClusterRecord:
    return ClusterRecord(cluster_key=f"eu-west-1#{CLUSTER}", resources={"access_key": {"access_key_id": access_key_id}})


def test_a_fresh_account_and_our_own_entities_pass(aws: Any) -> None:
    _check(aws)
    aws("iam").create_user(UserName=USER, Tags=OURS)
    key = aws("iam").create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    aws("iam").create_access_key(UserName=USER)
    aws("iam").create_policy(PolicyName=SHARED_POLICY_NAME, PolicyDocument=POLICY, Tags=OURS)
    aws("iam").create_role(RoleName=SPOT_ROLE_NAME, AssumeRolePolicyDocument="{}", Tags=OURS)
    aws("ec2").create_key_pair(
        KeyName=USER,
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [*OURS, {"Key": "cluster", "Value": CLUSTER}]}],
    )
    # (two keys, one of them the one the registry records as ours: StoreAccessKey reuses or rotates it)
    _check(aws, _recorded_key(key))


def test_a_foreign_user_is_a_foreign_entity(aws: Any) -> None:
    aws("iam").create_user(UserName=USER)
    with pytest.raises(ForeignEntity, match=f"IAM user {USER}"):
        _check(aws)


def test_two_access_keys_none_of_them_ours_is_the_key_limit(aws: Any) -> None:
    aws("iam").create_user(UserName=USER, Tags=OURS)
    for _ in range(2):
        aws("iam").create_access_key(UserName=USER)
    with pytest.raises(AccessKeyLimit, match="already has 2 access keys"):
        _check(aws, _recorded_key("AKIAGONE"))


@pytest.mark.parametrize("entity", ["policy", "role"])
def test_a_shared_entity_of_someone_else_is_a_foreign_entity(aws: Any, entity: str) -> None:
    if entity == "policy":
        aws("iam").create_policy(PolicyName=SHARED_POLICY_NAME, PolicyDocument=POLICY)
    else:
        aws("iam").create_role(RoleName=SPOT_ROLE_NAME, AssumeRolePolicyDocument="{}")
    with pytest.raises(ForeignEntity, match=SHARED_POLICY_NAME if entity == "policy" else SPOT_ROLE_NAME):
        _check(aws)


@pytest.mark.parametrize(
    "tags", [[], [{"Key": "managed-by", "Value": "kops-onboard"}, {"Key": "cluster", "Value": "b"}]]
)
def test_a_key_pair_under_our_name_that_is_not_ours_is_refused(aws: Any, tags: list[dict[str, str]]) -> None:
    specs = [{"ResourceType": "key-pair", "Tags": tags}] if tags else []
    aws("ec2").create_key_pair(KeyName=USER, TagSpecifications=specs)
    with pytest.raises(KeyPairWithoutSecret, match=f"EC2 key pair {USER} exists"):
        _check(aws)


def test_a_region_the_spot_rules_cover_passes() -> None:
    check_region_covered("eu-west-1", ("us-east-1", "eu-west-1"))


def test_a_region_the_spot_rules_do_not_cover_is_refused_naming_it_and_the_setting() -> None:
    with pytest.raises(RegionNotCovered, match=r"region us-west-2 .*spotRegions: us-east-1, eu-west-1"):
        check_region_covered("us-west-2", ("us-east-1", "eu-west-1"))
