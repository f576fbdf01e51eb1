"""Key pair and access key on moto: secrets stored, reused, rotated; never more than 2 keys."""

import json
from typing import Any

import pytest

from kops_lambda.errors import AccessKeyLimit, KeyPairWithoutSecret
from kops_lambda.logic.access_key import ensure_access_key
from kops_lambda.logic.key_pair import ensure_key_pair

CLUSTER = "a.k8s.local"
USER = "cast-kops-a.k8s.local"


@pytest.fixture
def kms_key(aws: Any) -> str:
    return str(aws("kms").create_key(Description="test")["KeyMetadata"]["Arn"])


def _access_key(aws: Any, kms_key: str, rotate: bool = False) -> Any:
    return ensure_access_key(
        aws("iam"),
        aws("secretsmanager"),
        user_name=USER,
        cluster_name=CLUSTER,
        kms_key_id=kms_key,
        rotate=rotate,
    )


def _stored(aws: Any, name: str) -> dict[str, Any]:
    return dict(json.loads(aws("secretsmanager").get_secret_value(SecretId=name)["SecretString"]))


def test_key_pair_created_once_with_private_key_only_in_the_secret(aws: Any, kms_key: str) -> None:
    ec2, sm = aws("ec2"), aws("secretsmanager")
    first = ensure_key_pair(ec2, sm, cluster_name=CLUSTER, kms_key_id=kms_key)
    assert first.created and first.key_name == USER
    stored = _stored(aws, "kops-onboard/clusters/a.k8s.local/ssh-private-key")
    assert stored["KeyPairId"] == first.key_pair_id and "PRIVATE KEY" in stored["PrivateKey"]
    assert stored["PrivateKey"] not in first.model_dump_json()
    assert sm.describe_secret(SecretId=first.private_key_secret_arn)["KmsKeyId"] == kms_key
    second = ensure_key_pair(ec2, sm, cluster_name=CLUSTER, kms_key_id=kms_key)
    assert not second.created and second.key_pair_id == first.key_pair_id
    assert len(ec2.describe_key_pairs()["KeyPairs"]) == 1


def test_key_pair_without_our_secret_is_a_typed_error(aws: Any, kms_key: str) -> None:
    aws("ec2").create_key_pair(KeyName=USER)
    with pytest.raises(KeyPairWithoutSecret, match="private key is not in secret"):
        ensure_key_pair(aws("ec2"), aws("secretsmanager"), cluster_name=CLUSTER, kms_key_id=kms_key)


def test_access_key_stored_reused_and_never_over_the_limit(aws: Any, kms_key: str) -> None:
    iam = aws("iam")
    iam.create_user(UserName=USER)
    results = [_access_key(aws, kms_key) for _ in range(3)]
    assert results[0].created and not results[1].created and not results[2].created
    assert {r.access_key_id for r in results} == {results[0].access_key_id}
    assert len(iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]) == 1
    stored = _stored(aws, results[0].secret_arn)
    assert stored["AccessKeyId"] == results[0].access_key_id
    assert stored["SecretAccessKey"] not in results[0].model_dump_json()


def test_rotation_leaves_exactly_the_new_key(aws: Any, kms_key: str) -> None:
    iam = aws("iam")
    iam.create_user(UserName=USER)
    old = _access_key(aws, kms_key)
    new = _access_key(aws, kms_key, rotate=True)
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]]
    assert keys == [new.access_key_id] and new.rotated_out_key_id == old.access_key_id
    assert _stored(aws, new.secret_arn)["AccessKeyId"] == new.access_key_id


def test_rotation_beside_a_foreign_key_keeps_the_foreign_key(aws: Any, kms_key: str) -> None:
    iam = aws("iam")
    iam.create_user(UserName=USER)
    ours = _access_key(aws, kms_key)
    foreign = iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    new = _access_key(aws, kms_key, rotate=True)
    keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]}
    assert keys == {foreign, new.access_key_id} and ours.access_key_id not in keys


def test_two_foreign_keys_are_never_touched(aws: Any, kms_key: str) -> None:
    iam = aws("iam")
    iam.create_user(UserName=USER)
    foreign = {iam.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"] for _ in range(2)}
    with pytest.raises(AccessKeyLimit):
        _access_key(aws, kms_key)
    assert {k["AccessKeyId"] for k in iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]} == foreign


def test_secrets_carry_a_policy_that_only_named_principals_may_read(aws: Any, kms_key: str) -> None:
    # Given the readers the stack configures (the writing function's role and an operator role)
    readers = ["arn:aws:iam::123456789012:role/KopsOnboard-StoreAccessKey", "arn:aws:iam::123456789012:role/Ops*"]
    aws("iam").create_user(UserName=USER)
    result = ensure_access_key(
        aws("iam"), aws("secretsmanager"), user_name=USER, cluster_name=CLUSTER, kms_key_id=kms_key, reader_arns=readers
    )
    # Then the secret's resource policy denies GetSecretValue to every other principal
    policy = json.loads(aws("secretsmanager").get_resource_policy(SecretId=result.secret_arn)["ResourcePolicy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": readers}}
