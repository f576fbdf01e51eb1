"""The scheduled rotation as deployed: clusters onboarded through the synthesized state machine, a key aged in
IAM (moto's record of when it was created, as AWS would have it after 31 days), the rotation's schedule fired
like EventBridge would, the real function running as its own role. Each test has a cluster of its own; a run
rotates every onboarded cluster whose key is old, so every test leaves its cluster's key fresh (rotated) behind:
the others' calls never mix into a test's record."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from moto.iam.models import iam_backends

from kops_lambda.constants import access_key_secret_name
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.lease import lease_key
from kops_local.system import LocalCluster, LocalSystem
from tests.e2e import spot_support as support
from tests.e2e.lease_support import lease_held_by_a_running_execution
from tests.rotation.support import ROTATION_DAYS, TOPIC_ARN, TOPIC_NAME

CLUSTER = "kops=1.21,nodes=1,pods=2,spot=0"
RESULT_MESSAGES = (
    "access key rotation result",
    "access key rotation failed; the old key still works",
    "access key rotated; its notification was not sent",
)


@pytest.fixture(scope="module")
def subscribed_queue(local_system: LocalSystem) -> str:
    """The topic the stack was synthesized with, a queue subscribed to it (the vendor side's)."""
    sns, sqs = local_system.aws.client("sns"), local_system.aws.client("sqs")
    assert sns.create_topic(Name=TOPIC_NAME)["TopicArn"] == TOPIC_ARN
    queue = sqs.create_queue(QueueName=f"rotations-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn)
    return queue


def onboard(system: LocalSystem, name: str) -> LocalCluster:
    return support.onboard(system, f"{name}:{CLUSTER}", name_prefix="rotation")


def age_keys(system: LocalSystem, cluster: LocalCluster, days: float) -> None:
    """Every access key of the cluster's user, created `days` earlier (IAM's CreateDate)."""
    user = iam_backends[system.aws.account_id]["aws"].get_user(user_name(cluster.name))
    for key in user.access_keys:
        key.create_date -= timedelta(days=days)


def keys(system: LocalSystem, cluster: LocalCluster) -> dict[str, str]:
    listed = system.aws.client("iam").list_access_keys(UserName=user_name(cluster.name))["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in listed}


def stored_key_id(system: LocalSystem, cluster: LocalCluster) -> str:
    value = system.aws.client("secretsmanager").get_secret_value(SecretId=access_key_secret_name(cluster.name))
    return str(json.loads(value["SecretString"])["AccessKeyId"])


def secret_versions(system: LocalSystem, cluster: LocalCluster) -> int:
    sm = system.aws.client("secretsmanager")
    return len(sm.list_secret_version_ids(SecretId=access_key_secret_name(cluster.name))["Versions"])


def fire_rotation(system: LocalSystem) -> dict[str, dict[str, Any]]:
    """Run the rotation's schedule now; this run's result per cluster (its log lines), by cluster name."""
    assert system.stack is not None
    (rule,) = (
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Events::Rule" and logical_id.startswith("AccessKeyRotation")
    )
    seen = len(system.aws.captured_logs)
    system.aws.fire_scheduled_rule(rule)
    system.aws.drain_event_sources(timeout=120)
    results: dict[str, dict[str, Any]] = {}
    for line in system.aws.captured_logs[seen:]:
        if "{" not in line:
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except json.JSONDecodeError:
            continue
        if entry.get("message") in RESULT_MESSAGES:
            results[entry["cluster"]] = entry
    return results


def last_metric(system: LocalSystem, name: str) -> float:
    return support.emf_metric(system, name)[-1]


def receive(system: LocalSystem, queue: str) -> list[dict[str, Any]]:
    sqs = system.aws.client("sqs")
    answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_an_old_key_is_replaced_stored_first_and_announced(local_system: LocalSystem, subscribed_queue: str) -> None:
    # Given two onboarded clusters, one whose key is older than the limit, one whose key is not
    old, young = onboard(local_system, "rotate-old.k8s.local"), onboard(local_system, "rotate-young.k8s.local")
    (old_key,), (young_key,) = keys(local_system, old), keys(local_system, young)
    age_keys(local_system, old, ROTATION_DAYS + 1)
    age_keys(local_system, young, ROTATION_DAYS - 1)
    local_system.aws.client("sqs").purge_queue(QueueUrl=subscribed_queue)
    # When the rotation's schedule fires (every IAM and Secrets Manager call recorded, in order)
    with local_system.aws.aws_calls(services=("iam", "secretsmanager")) as calls:
        results = fire_rotation(local_system)
    # Then the old cluster's user has exactly one key, active, and it is the secret's current value
    assert results[old.name]["outcome"] == "rotated", results[old.name]
    ((new_key, status),) = keys(local_system, old).items()
    assert new_key != old_key and status == "Active"
    assert stored_key_id(local_system, old) == new_key == results[old.name]["access_key_id"]
    assert results[old.name]["rotated_out_key_id"] == old_key
    assert secret_versions(local_system, old) == 2  # the same secret, a new version
    # And the old key was deleted only after the new one was stored
    made = calls.made
    created = made.index("iam:CreateAccessKey")
    stored = made.index("secretsmanager:PutSecretValue", created)
    assert created < stored < made.index("iam:DeleteAccessKey", stored)
    assert made.count("iam:CreateAccessKey") == made.count("iam:DeleteAccessKey") == 1
    # And the younger key was left as it was
    assert results[young.name]["outcome"] == "fresh"
    assert keys(local_system, young) == {young_key: "Active"} and stored_key_id(local_system, young) == young_key
    # And the vendor side was told: which cluster, which secret, which new key, when; never the secret
    (envelope,) = receive(local_system, subscribed_queue)
    body = json.loads(envelope["Message"])
    assert {k: body[k] for k in ("cluster", "secret_arn", "access_key_id", "rotated_out_key_id")} == {
        "cluster": old.name,
        "secret_arn": results[old.name]["secret_arn"],
        "access_key_id": new_key,
        "rotated_out_key_id": old_key,
    }
    assert body["rotated_at"] == results[old.name]["rotated_at"]
    assert "SecretAccessKey" not in envelope["Message"]
    assert last_metric(local_system, "AccessKeysRotated") == 1
    assert last_metric(local_system, "AccessKeyRotationsFailed") == 0
    # And the next run finds nothing to do
    again = fire_rotation(local_system)
    assert again[old.name]["outcome"] == "fresh" and keys(local_system, old) == {new_key: "Active"}


def test_a_rotation_failing_half_way_leaves_exactly_the_old_key_and_alarms(
    local_system: LocalSystem, template_with_alarm: dict[str, Any]
) -> None:
    # Given a cluster whose key is old, and Secrets Manager refusing every new version (a key policy changed)
    cluster = onboard(local_system, "rotate-halfway.k8s.local")
    (old_key,) = keys(local_system, cluster)
    age_keys(local_system, cluster, ROTATION_DAYS + 1)
    with (
        local_system.aws.aws_failure("secretsmanager:PutSecretValue", code="AccessDeniedException") as refused,
        local_system.aws.aws_calls(services=("iam",)) as calls,
    ):
        results = fire_rotation(local_system)
    # Then the new key was made, could not be stored, and was deleted again: exactly the old key is left
    assert refused.answered == 1
    assert calls.made.count("iam:CreateAccessKey") == 1 and calls.made.count("iam:DeleteAccessKey") == 1
    assert keys(local_system, cluster) == {old_key: "Active"}
    assert stored_key_id(local_system, cluster) == old_key and secret_versions(local_system, cluster) == 1
    failed = results[cluster.name]
    assert failed["outcome"] == "failed" and "AccessDenied" in failed["reason"], failed
    # And the alarm's metric, as the template defines the alarm, is at its threshold
    assert template_with_alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert last_metric(local_system, "AccessKeyRotationsFailed") >= template_with_alarm["Threshold"] == 1
    # And once Secrets Manager accepts again, the next run rotates it
    assert fire_rotation(local_system)[cluster.name]["outcome"] == "rotated"
    assert list(keys(local_system, cluster)) == [stored_key_id(local_system, cluster)] != [old_key]


def test_a_user_with_two_keys_is_refused_before_anything_changes(local_system: LocalSystem) -> None:
    # Given an old key of ours and a second key someone made for the user (IAM allows 2)
    cluster = onboard(local_system, "rotate-full.k8s.local")
    (ours,) = keys(local_system, cluster)
    theirs = local_system.aws.client("iam").create_access_key(UserName=user_name(cluster.name))["AccessKey"]
    age_keys(local_system, cluster, ROTATION_DAYS + 1)
    with local_system.aws.aws_calls(services=("iam", "secretsmanager")) as calls:
        results = fire_rotation(local_system)
    # Then nothing was created or deleted, the secret still names our working key, and it counts as failed
    assert results[cluster.name]["outcome"] == "failed" and "AccessKeyLimit" in results[cluster.name]["reason"]
    assert not {"iam:CreateAccessKey", "iam:DeleteAccessKey", "secretsmanager:PutSecretValue"} & set(calls.made)
    assert keys(local_system, cluster) == {ours: "Active", theirs["AccessKeyId"]: "Active"}
    assert stored_key_id(local_system, cluster) == ours
    assert last_metric(local_system, "AccessKeyRotationsFailed") >= 1
    # And once that other key is gone, the next run rotates ours
    iam = local_system.aws.client("iam")
    iam.delete_access_key(UserName=user_name(cluster.name), AccessKeyId=theirs["AccessKeyId"])
    assert fire_rotation(local_system)[cluster.name]["outcome"] == "rotated"
    assert list(keys(local_system, cluster)) == [stored_key_id(local_system, cluster)] != [ours]


def test_a_cluster_whose_lease_an_execution_holds_is_skipped_and_counted(local_system: LocalSystem) -> None:
    # Given a cluster with an old key whose lease a running execution holds
    cluster = onboard(local_system, "rotate-busy.k8s.local")
    (old_key,) = keys(local_system, cluster)
    age_keys(local_system, cluster, ROTATION_DAYS + 1)
    with lease_held_by_a_running_execution(local_system, cluster.name) as holder:
        with local_system.aws.aws_calls(services=("iam", "secretsmanager")) as calls:
            results = fire_rotation(local_system)
        # Then it was skipped naming the holder, counted, and nothing of it changed (the lease is still the holder's)
        busy = results[cluster.name]
        assert busy["outcome"] == "busy" and holder in busy["reason"]
        assert last_metric(local_system, "AccessKeyRotationsBusy") == 1
        assert not {"iam:CreateAccessKey", "iam:DeleteAccessKey", "secretsmanager:PutSecretValue"} & set(calls.made)
        assert keys(local_system, cluster) == {old_key: "Active"} and stored_key_id(local_system, cluster) == old_key
        table = local_system.output("RegistryTableName")
        lease = local_system.aws.client("dynamodb").get_item(
            TableName=table, Key={"cluster_key": {"S": lease_key(local_system.region, cluster.name)}}
        )["Item"]
        assert lease["owner"]["S"] == holder
    # And the next run, with the execution gone, rotates it
    assert fire_rotation(local_system)[cluster.name]["outcome"] == "rotated"


@pytest.fixture(scope="module")
def template_with_alarm(local_system: LocalSystem) -> dict[str, Any]:
    template = json.loads(local_system.template.read_text())
    (alarm,) = (
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "AccessKeyRotationsFailed"
    )
    loaded: dict[str, Any] = alarm
    return loaded
