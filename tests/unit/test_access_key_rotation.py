"""The scheduled access-key rotation's logic on moto: a key older than the limit is replaced (new key stored,
old one deleted), a younger one is left, a user with 2 keys is refused before anything changes, a cluster whose
lease a running execution holds is skipped, what the registry holds is never trusted, and the notification
names the new key, never its secret. The clock is the caller's: `now` moves instead of the key's age."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kops_lambda.constants import STATUS_ONBOARDED, TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, access_key_secret_name
from kops_lambda.errors import ClusterBusy, InvalidSettings
from kops_lambda.logic.access_key import ensure_access_key
from kops_lambda.logic.access_key_rotation import (
    RotationDependencies,
    RotationOutcome,
    RotationResult,
    rotate_old_access_keys,
)
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.lease import acquire_cluster_lease, lease_key
from kops_lambda.settings import RotationSettings, load_rotation_settings
from tests.rollback.conftest import create_registry

REGION = "us-east-1"
CLUSTER = "rotate.k8s.local"
LIMIT = timedelta(days=30)
OWNER = "arn:aws:lambda:us-east-1:123456789012:function:kops-onboard-rotation#request-1"


@pytest.fixture
def table(aws: Any) -> Any:
    return create_registry(aws("dynamodb"))


def onboard(aws: Any, table: Any, cluster: str = CLUSTER, status: str = STATUS_ONBOARDED) -> str:
    """A cluster as onboarding leaves it: its tagged user, one key stored in its secret, its registry item."""
    iam = aws("iam")
    iam.create_user(UserName=user_name(cluster), Tags=[{"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE}])
    key = ensure_access_key(
        iam, aws("secretsmanager"), table, user_name=user_name(cluster), cluster_name=cluster, kms_key_id=None
    )
    table.put_item(
        Item={
            "cluster_key": f"{REGION}#{cluster}",
            "cluster_name": cluster,
            "region": REGION,
            "status": status,
            "resources": {"access_key": {"access_key_id": key.access_key_id}},
        }
    )
    return key.access_key_id


def deps(aws: Any, table: Any, **extra: Any) -> RotationDependencies:
    return RotationDependencies(
        iam=aws("iam"),
        secretsmanager=aws("secretsmanager"),
        registry_table=table,
        stepfunctions=aws("stepfunctions"),
        kms_key_id=None,
        owner=OWNER,
        **extra,
    )


def rotate(aws: Any, table: Any, *, days_later: float, **extra: Any) -> list[RotationResult]:
    return rotate_old_access_keys(
        deps(aws, table, **extra), max_age=LIMIT, now=datetime.now(UTC) + timedelta(days=days_later)
    )


def keys_of(aws: Any, cluster: str = CLUSTER) -> list[str]:
    return [k["AccessKeyId"] for k in aws("iam").list_access_keys(UserName=user_name(cluster))["AccessKeyMetadata"]]


def stored(aws: Any, cluster: str = CLUSTER) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        aws("secretsmanager").get_secret_value(SecretId=access_key_secret_name(cluster))["SecretString"]
    )
    return value


def test_a_key_older_than_the_limit_is_replaced_and_the_old_one_deleted(aws: Any, table: Any) -> None:
    # Given an onboarded cluster whose key is 31 days old (the clock moved on)
    old = onboard(aws, table)
    # When the rotation runs
    (result,) = rotate(aws, table, days_later=31)
    # Then the user has exactly one key, the new one, and the secret's current version holds it
    assert result.outcome is RotationOutcome.ROTATED, result
    (new,) = keys_of(aws)
    assert new != old and result.access_key_id == new and result.rotated_out_key_id == old
    assert stored(aws)["AccessKeyId"] == new
    versions = aws("secretsmanager").list_secret_version_ids(SecretId=access_key_secret_name(CLUSTER))["Versions"]
    assert len(versions) == 2  # a new version of the same secret
    assert result.key_age_days is not None and result.key_age_days >= 31
    # And the lease was given back
    assert table.get_item(Key={"cluster_key": lease_key(REGION, CLUSTER)}).get("Item") is None
    # And nothing it reports is a secret
    assert stored(aws)["SecretAccessKey"] not in json.dumps(result.record())


def test_a_younger_key_is_left_alone(aws: Any, table: Any) -> None:
    key = onboard(aws, table)
    (result,) = rotate(aws, table, days_later=29)
    assert (result.outcome, result.access_key_id) == (RotationOutcome.FRESH, key)
    assert keys_of(aws) == [key] and stored(aws)["AccessKeyId"] == key


def test_a_user_with_two_keys_is_refused_and_nothing_changes(aws: Any, table: Any) -> None:
    # Given an old key of ours and a second key someone else made for the user
    ours = onboard(aws, table)
    theirs = aws("iam").create_access_key(UserName=user_name(CLUSTER))["AccessKey"]["AccessKeyId"]
    # When the rotation runs, then it fails naming the limit, and both keys and the secret are as they were
    (result,) = rotate(aws, table, days_later=31)
    assert result.outcome is RotationOutcome.FAILED and result.reason.startswith("AccessKeyLimit: "), result
    assert sorted(keys_of(aws)) == sorted([ours, theirs]) and stored(aws)["AccessKeyId"] == ours


def test_a_cluster_whose_lease_a_running_execution_holds_is_skipped(aws: Any, table: Any) -> None:
    key = onboard(aws, table)
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name="onboarding",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="running")["executionArn"]  # stays RUNNING
    acquire_cluster_lease(table, sfn, region=REGION, cluster_name=CLUSTER, owner=execution)
    (result,) = rotate(aws, table, days_later=31)
    assert result.outcome is RotationOutcome.BUSY and execution in result.reason
    assert keys_of(aws) == [key] and stored(aws)["AccessKeyId"] == key
    # And the execution still holds its lease
    assert table.get_item(Key={"cluster_key": lease_key(REGION, CLUSTER)})["Item"]["owner"] == execution


def test_a_workflow_meeting_the_rotations_lease_is_busy_until_it_is_released(aws: Any, table: Any) -> None:
    # The rotation's owner is no execution: a workflow must not take its lease over as if it had ended
    sfn = aws("stepfunctions")
    acquire_cluster_lease(table, sfn, region=REGION, cluster_name=CLUSTER, owner=OWNER, seconds=300)
    execution = f"arn:aws:states:{REGION}:123456789012:execution:onboarding:second"
    with pytest.raises(ClusterBusy, match="the access key rotation"):
        acquire_cluster_lease(table, sfn, region=REGION, cluster_name=CLUSTER, owner=execution)


def test_only_onboarded_clusters_with_valid_names_are_rotated(aws: Any, table: Any) -> None:
    onboard(aws, table, "onboarding.k8s.local", status="ONBOARDING")
    table.put_item(
        Item={"cluster_key": f"{REGION}#x", "cluster_name": "../admin", "region": REGION, "status": STATUS_ONBOARDED}
    )
    (result,) = rotate(aws, table, days_later=31)
    assert (result.outcome, result.reason) == (RotationOutcome.FAILED, "not a cluster name and region")
    assert len(keys_of(aws, "onboarding.k8s.local")) == 1


def test_a_stored_key_the_user_no_longer_has_is_a_failure_not_a_new_key(aws: Any, table: Any) -> None:
    key = onboard(aws, table)
    aws("iam").delete_access_key(UserName=user_name(CLUSTER), AccessKeyId=key)
    (result,) = rotate(aws, table, days_later=1)
    assert result.outcome is RotationOutcome.FAILED and key in result.reason
    assert keys_of(aws) == []


def test_the_notification_names_the_new_key_never_its_secret(aws: Any, table: Any) -> None:
    # Given a topic with a queue subscribed
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name="rotations")["TopicArn"]
    queue = sqs.create_queue(QueueName="rotations")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    onboard(aws, table)
    # When a key is rotated
    (result,) = rotate(aws, table, days_later=31, sns=sns, topic_arn=topic)
    # Then one message says which cluster, which secret, which new key and when
    assert result.notified is True
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert {k: body[k] for k in ("cluster", "secret_arn", "access_key_id", "rotated_out_key_id", "rotated_at")} == {
        "cluster": CLUSTER,
        "secret_arn": result.secret_arn,
        "access_key_id": stored(aws)["AccessKeyId"],
        "rotated_out_key_id": result.rotated_out_key_id,
        "rotated_at": result.rotated_at,
    }
    assert stored(aws)["SecretAccessKey"] not in message["Body"]


def test_a_failed_notification_never_fails_the_rotation(aws: Any, table: Any) -> None:
    onboard(aws, table)
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    (result,) = rotate(aws, table, days_later=31, sns=aws("sns"), topic_arn=missing)
    assert (result.outcome, result.notified) == (RotationOutcome.ROTATED, False)
    assert result.reason.startswith("notification: ")
    assert keys_of(aws) == [stored(aws)["AccessKeyId"]]


def test_the_settings_the_stack_sets_are_the_ones_the_handler_reads() -> None:
    settings = RotationSettings(days=45, topic_arn=f"arn:aws:sns:{REGION}:123456789012:rotations")
    assert load_rotation_settings(settings.environment()) == settings
    # The topic's KMS key is the stack's grant only; no function is given it
    keyed = RotationSettings(days=45, topic_key_arn="arn:aws:kms:us-east-1:123456789012:key/x")
    assert "arn:aws:kms" not in json.dumps(keyed.environment())


def test_a_function_without_its_days_setting_fails_naming_it() -> None:
    with pytest.raises(InvalidSettings, match="ACCESS_KEY_ROTATION_DAYS"):
        load_rotation_settings({})
