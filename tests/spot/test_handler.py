"""The real Lambda handler on an SQS batch, in-process: moto for AWS, the API server of `--kube` for the cluster."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from kops_lambda.adapters import aws as aws_adapter
from kops_lambda.constants import ENV_SPOT_NOTIFICATION_TOPIC_ARN, KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT
from kops_lambda.handlers import spot_clients
from kops_lambda.handlers.spot_interruption import handler
from kops_lambda.logic.cluster.drainer import issue_drainer_credential
from kops_lambda.logic.cluster.drainer_client import read_drainer_credential
from kops_local.seed import seed_access_secret
from tests.revocation import wait_until_refused
from tests.spot import objects
from tests.spot.conftest import (
    DEDUP_TABLE,
    REBALANCE,
    REGION,
    REGISTRY_TABLE,
    TOKEN,
    WARNING,
    Cluster,
    ec2_event,
    kube_admin,
    lambda_context,
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, cluster: Cluster) -> Iterator[None]:
    # Onboarding's drainer credential (service-account mode), from the admin kubeconfig, which is then deleted:
    # the handler must do without it.
    secretsmanager = cluster.clients("secretsmanager")
    arn = seed_access_secret(
        secretsmanager=secretsmanager, cluster_name=cluster.aws.name, kube_api_url=cluster.kube.url, token=TOKEN
    )
    drainer = issue_drainer_credential(
        secretsmanager,
        kubeconfig_secret_arn=arn,
        cluster_name=cluster.aws.name,
        mode="service-account",
        kops_version="1.21.0",
        spot_role_arn="arn:aws:iam::123456789012:role/spot-unit",
        kms_key_id=None,
        spot_force_delete=False,
    )
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    cluster.clients("dynamodb").update_item(
        TableName=REGISTRY_TABLE,
        Key={"cluster_key": {"S": f"{REGION}#{cluster.aws.name}"}},
        UpdateExpression="SET kubeconfig_secret_arn = :arn, #resources.drainer.secret_arn = :drainer",
        ExpressionAttributeNames={"#resources": "resources"},
        ExpressionAttributeValues={":arn": {"S": arn}, ":drainer": {"S": drainer.secret_arn}},
    )
    cluster.kube.clear_requests()
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "spot-unit",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "REGISTRY_TABLE_NAME": REGISTRY_TABLE,
        "IDEMPOTENCY_TABLE_NAME": DEDUP_TABLE,
        "SPOT_ACCOUNT_ID": "123456789012",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield
    # The handler's clients are cached per process (a warm container): built here for moto in-process, they
    # must not outlive this test (later suites point AWS_ENDPOINT_URL at a local server).
    aws_adapter.client.cache_clear()
    spot_clients.forget_cached()


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:spot",
                "awsRegion": REGION,
            }
            for body in bodies
        ]
    }


def body_of(event: Any) -> str:
    return json.dumps(event.model_dump(mode="json", by_alias=True))


def emf_metrics(output: str) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = blob[metric["Name"]]
            values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


@pytest.mark.usefixtures("environment")
def test_a_malformed_record_fails_alone_and_is_counted(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a batch with a malformed record and a warning for a Spot worker
    spot = cluster.spot_workers[0]
    event = sqs_event(
        '{"detail-type": "EC2 Spot Instance Interruption Warning"}',
        body_of(ec2_event(WARNING, instance_id=spot.instance_id)),
    )
    # When the handler gets it
    response = handler(event, lambda_context())
    # Then only the malformed record is reported failed (SQS retries it, then moves it to the DLQ)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    # And the warning drained its node, with the figures as EMF metrics
    assert cluster.node(spot)["spec"]["unschedulable"] is True
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["MalformedEvents"] == [1]
    assert metrics["PodsEvicted"][0] >= 4
    assert metrics["PodsLeftAtDeadline"] == [0]
    assert "TimeToCordon" in metrics and "EventAgeOnReceipt" in metrics


@pytest.mark.usefixtures("environment")
def test_records_of_a_batch_are_handled_in_parallel(cluster: Cluster) -> None:
    # Given two Spot workers; the first holds a pod no eviction may touch, and its warning leaves 4 s
    first, second = cluster.spot_workers[:2]
    # (without the seeded frontend budget, which would hold the second node's frontend pod for its full window)
    cluster.kube.store.delete("policy/v1/poddisruptionbudgets", "shop", cluster.seeded.pdb_name)
    cluster.kube.store.create(
        objects.pod("locked", node_name=cluster.node_name(first), labels={"app": "locked"}, namespace="shop")
    )
    cluster.kube.store.create(objects.pdb("locked", "locked", min_available=1, namespace="shop"))
    seen: dict[str, list[float]] = {}

    def arrival(request: Any) -> None:
        seen.setdefault(f"{request.method} {request.path}", []).append(time.monotonic())

    cluster.kube.before_request(arrival)
    # (a first invocation warms the container: clients built, the cluster's API client cached)
    on_demand = next(i for i in cluster.aws.workers if i.lifecycle == "on-demand")
    assert handler(sqs_event(body_of(ec2_event(REBALANCE, instance_id=on_demand.instance_id))), lambda_context())
    slow = ec2_event(WARNING, instance_id=first.instance_id, age=100)
    fresh = ec2_event(WARNING, instance_id=second.instance_id)
    # When both arrive in one batch, the slow one first
    started = time.monotonic()
    response = handler(sqs_event(body_of(slow), body_of(fresh)), lambda_context())
    # Then both succeeded, and the second node was cordoned while the first one's drain was still waiting
    assert response == {"batchItemFailures": []}
    (cordoned,) = seen[f"PATCH /api/v1/nodes/{cluster.node_name(second)}"]
    retries = seen["POST /api/v1/namespaces/shop/pods/locked/eviction"]
    assert len(retries) > 2
    assert cordoned < retries[-1]
    assert time.monotonic() - started >= 3
    assert cluster.kube.store.get("v1/pods", "shop", "locked") is not None
    (incomplete,) = [e for e in cluster.node_events(first) if e["reason"] == "DrainIncomplete"]
    assert "shop/locked (disruption budget)" in incomplete["message"]


@pytest.mark.usefixtures("environment")
def test_a_revoked_drainer_token_fails_the_record_with_a_clear_error_for_sqs_to_retry(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the drainer's ServiceAccount deleted (its tokens revoked) and the server refusing its token
    credential = read_drainer_credential(cluster.clients("secretsmanager"), drainer_secret_arn_of(cluster))
    assert credential.token is not None
    cluster.kube.store.delete("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT)
    with kube_admin(cluster.kube.url) as admin:
        wait_until_refused(cluster.kube, admin, credential.token)
    spot = cluster.spot_workers[0]
    event = sqs_event(body_of(ec2_event(WARNING, instance_id=spot.instance_id)))
    # When a warning for one of its Spot workers arrives alone, Then the invocation fails (every record of
    # the batch failed), so SQS makes it visible again; the node is untouched, and the log says why
    with pytest.raises(BatchProcessingError, match="All records failed"):
        handler(event, lambda_context())
    assert not cluster.node(spot)["spec"].get("unschedulable")
    (failure,) = [r for r in caplog.records if r.getMessage().startswith("interruption not handled")]
    assert failure.__dict__["error"] == "ClusterAccessError"
    detail = failure.__dict__["detail"]
    assert f"cluster {cluster.aws.name}: the API server refused the Spot drainer credential" in detail
    assert "(401)" in detail and credential.token not in detail


def drainer_secret_arn_of(cluster: Cluster) -> str:
    item = cluster.clients("dynamodb").get_item(
        TableName=REGISTRY_TABLE, Key={"cluster_key": {"S": f"{REGION}#{cluster.aws.name}"}}
    )["Item"]
    return str(item["resources"]["M"]["drainer"]["M"]["secret_arn"]["S"])


@pytest.mark.usefixtures("environment")
def test_a_notification_that_cannot_even_start_leaves_the_record_handled(
    cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a notification setting the synth would have refused (no ARN at all)
    monkeypatch.setenv(ENV_SPOT_NOTIFICATION_TOPIC_ARN, "not-an-arn")
    spot = cluster.spot_workers[0]
    event = sqs_event(body_of(ec2_event(WARNING, instance_id=spot.instance_id)))
    # When the handler drains the worker
    response = handler(event, lambda_context())
    # Then the record succeeded and the node is drained; the notification failed, counted and logged by type
    assert response == {"batchItemFailures": []}
    assert cluster.node(spot)["spec"]["unschedulable"] is True
    metrics = emf_metrics(capsys.readouterr().out)
    assert (metrics["NotificationFailures"], metrics["NotificationsSent"], metrics["NodesDrained"]) == ([1], [0], [1])
    (failure,) = [r for r in caplog.records if r.getMessage() == "notification not sent"]
    assert (failure.__dict__["channel"], failure.__dict__["error"]) == ("setup", "IndexError")
