"""Key pair and access key on moto: secrets stored, reused, rotated; never more than 2 keys; two
invocations at once make one."""

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from kops_lambda.errors import AccessKeyLimit, CreationInProgress, KeyPairWithoutSecret
from kops_lambda.logic.access_key import ensure_access_key
from kops_lambda.logic.key_pair import ensure_key_pair
from tests.rollback.conftest import create_registry

CLUSTER = "a.k8s.local"
USER = "cast-kops-a.k8s.local"
REGION = "us-east-1"


@pytest.fixture
def kms_key(aws: Any) -> str:
    return str(aws("kms").create_key(Description="test")["KeyMetadata"]["Arn"])


@pytest.fixture(autouse=True)
def registry(aws: Any) -> Any:
    """The registry table, where the creation markers live."""
    return create_registry(aws("dynamodb"))


def _access_key(aws: Any, kms_key: str, rotate: bool = False, iam: Any = None) -> Any:
    return ensure_access_key(
        iam or aws("iam"),
        aws("secretsmanager"),
        boto3.resource("dynamodb", region_name=REGION).Table("registry"),
        user_name=USER,
        cluster_name=CLUSTER,
        kms_key_id=kms_key,
        rotate=rotate,
    )


def _stored(aws: Any, name: str) -> dict[str, Any]:
    return dict(json.loads(aws("secretsmanager").get_secret_value(SecretId=name)["SecretString"]))


def test_key_pair_created_once_with_private_key_only_in_the_secret(aws: Any, kms_key: str, registry: Any) -> None:
    ec2, sm = aws("ec2"), aws("secretsmanager")
    first = ensure_key_pair(ec2, sm, registry, cluster_name=CLUSTER, kms_key_id=kms_key)
    assert first.created and first.key_name == USER
    stored = _stored(aws, "kops-onboard/clusters/a.k8s.local/ssh-private-key")
    assert stored["KeyPairId"] == first.key_pair_id and "PRIVATE KEY" in stored["PrivateKey"]
    assert stored["PrivateKey"] not in first.model_dump_json()
    assert sm.describe_secret(SecretId=first.private_key_secret_arn)["KmsKeyId"] == kms_key
    second = ensure_key_pair(ec2, sm, registry, cluster_name=CLUSTER, kms_key_id=kms_key)
    assert not second.created and second.key_pair_id == first.key_pair_id
    assert len(ec2.describe_key_pairs()["KeyPairs"]) == 1


def test_key_pair_without_our_secret_is_a_typed_error(aws: Any, kms_key: str, registry: Any) -> None:
    aws("ec2").create_key_pair(KeyName=USER)
    with pytest.raises(KeyPairWithoutSecret, match="private key is not in secret"):
        ensure_key_pair(aws("ec2"), aws("secretsmanager"), registry, cluster_name=CLUSTER, kms_key_id=kms_key)


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


def test_secrets_carry_a_policy_that_only_named_principals_may_read(aws: Any, kms_key: str, registry: Any) -> None:
    # Given the readers the stack configures (the writing function's role and an operator role)
    readers = ["arn:aws:iam::123456789012:role/KopsOnboard-StoreAccessKey", "arn:aws:iam::123456789012:role/Ops*"]
    aws("iam").create_user(UserName=USER)
    result = ensure_access_key(
        aws("iam"),
        aws("secretsmanager"),
        registry,
        user_name=USER,
        cluster_name=CLUSTER,
        kms_key_id=kms_key,
        reader_arns=readers,
    )
    # Then the secret's resource policy denies GetSecretValue to every other principal
    policy = json.loads(aws("secretsmanager").get_resource_policy(SecretId=result.secret_arn)["ResourcePolicy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": readers}}


def _paused_before(client: Any, operation: str, reached: threading.Event, resume: threading.Event) -> Any:
    """`client`, whose calls of `operation` signal `reached` and then wait until `resume` is set."""

    def pause(**_: Any) -> None:
        reached.set()
        resume.wait(timeout=120)

    client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", pause)
    return client


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # the outcome is asserted by the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_two_invocations_at_once_make_one_access_key_and_the_second_reuses_it(aws: Any, kms_key: str) -> None:
    # Given a user without keys, and a first invocation held just before it creates the key
    aws("iam").create_user(UserName=USER)
    at_create, second_done = threading.Event(), threading.Event()
    first_iam = _paused_before(aws("iam"), "CreateAccessKey", at_create, second_done)
    first, first_outcome = _in_thread(lambda: _access_key(aws, kms_key, iam=first_iam))
    assert at_create.wait(timeout=120)
    # When a second invocation runs meanwhile (another container) and then the first goes on
    second, second_outcome = _in_thread(lambda: _access_key(aws, kms_key))
    second.join(timeout=120)
    second_done.set()
    first.join(timeout=120)
    # Then the second made no key of its own but waits for the first (retried by the workflow)
    (created,), (lost,) = first_outcome, second_outcome
    assert isinstance(lost, CreationInProgress), lost
    keys = [k["AccessKeyId"] for k in aws("iam").list_access_keys(UserName=USER)["AccessKeyMetadata"]]
    assert keys == [created.access_key_id]
    assert _stored(aws, created.secret_arn)["AccessKeyId"] == created.access_key_id
    # And its retry reuses the first one's key
    retried = _access_key(aws, kms_key)
    assert not retried.created and retried.access_key_id == created.access_key_id


def test_two_invocations_at_once_make_one_key_pair_and_the_second_reuses_it(aws: Any, kms_key: str) -> None:
    # Given a first invocation held just before it creates the key pair
    at_create, second_done = threading.Event(), threading.Event()
    first_ec2 = _paused_before(aws("ec2"), "CreateKeyPair", at_create, second_done)
    table = boto3.resource("dynamodb", region_name=REGION).Table("registry")

    def key_pair(ec2: Any) -> Any:
        return ensure_key_pair(ec2, aws("secretsmanager"), table, cluster_name=CLUSTER, kms_key_id=kms_key)

    first, first_outcome = _in_thread(lambda: key_pair(first_ec2))
    assert at_create.wait(timeout=120)
    # When a second invocation runs meanwhile
    second, second_outcome = _in_thread(lambda: key_pair(aws("ec2")))
    second.join(timeout=120)
    second_done.set()
    first.join(timeout=120)
    # Then it is told to retry (not KeyPairWithoutSecret, a permanent failure), and its retry reuses the pair
    (created,), (lost,) = first_outcome, second_outcome
    assert isinstance(lost, CreationInProgress), lost
    retried = key_pair(aws("ec2"))
    assert not retried.created and retried.key_pair_id == created.key_pair_id
    assert len(aws("ec2").describe_key_pairs()["KeyPairs"]) == 1
