"""Notifications through the real path: a warning put on the bus -> rule -> queue -> the deployed Spot handler
drains the node -> one SNS message (read from a queue subscribed to the topic) and/or one POST to an HTTPS
webhook served here, whose URL is in Secrets Manager and trusted through the local system's CA bundle setting.
A webhook that is down, slow or untrusted fails the notification only: the drain and its outcome are the same."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kops_lambda.constants import (
    ENV_LOCAL_WEBHOOK_CA_BUNDLE,
    ENV_SPOT_NOTIFICATION_TOPIC_ARN,
    ENV_SPOT_WEBHOOK_TEMPLATE,
    ENV_SPOT_WEBHOOK_URL_SECRET_ARN,
)
from kops_local.seed import SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from tests.e2e import spot_support as support
from tests.webhook_server import WebhookServer, closed_port

TEMPLATE = (
    '{"cluster": "$cluster", "node": "$node", "instance": "$instance", "event_type": "$event_type", '
    '"result": "$result", "pods_left": $pods_left, "pods_evicted": $pods_evicted, "event_id": "$event_id"}'
)


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return support.onboard_without_budget(local_system, "notify.k8s.local:kops=1.22,nodes=5,spot=5,pods=2,naming=id")


@pytest.fixture(scope="module")
def workers(cluster: LocalCluster) -> Iterator[SeededInstance]:
    """A fresh Spot worker for each test (a drained node would be unchanged the second time)."""
    return iter(support.spot_workers(cluster))


def _drained(system: LocalSystem, worker: SeededInstance) -> dict[str, Any]:
    """Put the worker's warning on the bus, wait for the handler; its outcome line."""
    (event_id,) = support.put(system, support.entry(system, worker))
    system.aws.drain_event_sources(timeout=60)
    (line,) = [line for line in support.handler_lines(system, event_id) if line.get("result")]
    return line


def _notification_lines(system: LocalSystem, event_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in support.handler_lines(system, event_id)
        if line.get("message") in ("notification sent", "notification not sent")
    ]


def _webhook_secret(system: LocalSystem, url: str) -> str:
    secrets: Any = system.aws.client("secretsmanager")
    arn: str = secrets.create_secret(Name=f"ops/spot-webhook-{uuid.uuid4().hex[:8]}", SecretString=url)["ARN"]
    return arn


def _assert_drained(outcome: dict[str, Any], cluster: LocalCluster, worker: SeededInstance) -> None:
    assert (outcome["result"], outcome["pods_left"]) == ("drained", 0), outcome
    assert outcome["pods_evicted"] > 0
    assert support.node(cluster, worker)["spec"]["unschedulable"] is True


# ---- SNS ----


def test_a_drain_is_published_to_the_topic(
    local_system: LocalSystem, cluster: LocalCluster, workers: Iterator[SeededInstance]
) -> None:
    # Given a topic with a queue subscribed (raw delivery off: the SNS envelope, as most subscribers get it)
    sns: Any = local_system.aws.client("sns")
    sqs: Any = local_system.aws.client("sqs")
    topic = sns.create_topic(Name="spot-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"spot-notes-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    worker = next(workers)
    sent_before = sum(support.emf_metric(local_system, "NotificationsSent"))
    # When the handler, configured with the topic, drains a Spot worker
    with support.spot_handler_environment(local_system, **{ENV_SPOT_NOTIFICATION_TOPIC_ARN: topic}):
        outcome = _drained(local_system, worker)
    _assert_drained(outcome, cluster, worker)
    # Then one message tells the outcome, with the cluster and result as attributes subscribers filter on
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])
    node_name = cluster.kube.node_name(worker.instance_id)
    assert envelope["Subject"] == f"kops-onboard: drained {node_name} ({cluster.name})"
    body = json.loads(envelope["Message"])
    assert {k: body[k] for k in ("cluster", "node", "instance", "result", "pods_left", "event_id", "kind")} == {
        "cluster": cluster.name,
        "node": node_name,
        "instance": worker.instance_id,
        "result": "drained",
        "pods_left": "0",
        "event_id": outcome["event_id"],
        "kind": "warning",
    }
    assert body["pods_evicted"] == str(outcome["pods_evicted"])
    assert envelope["MessageAttributes"]["cluster"] == {"Type": "String", "Value": cluster.name}
    assert envelope["MessageAttributes"]["result"] == {"Type": "String", "Value": "drained"}
    # And it was counted and logged as sent
    assert sum(support.emf_metric(local_system, "NotificationsSent")) == sent_before + 1
    assert [line["channels"] for line in _notification_lines(local_system, outcome["event_id"])] == [["sns"]]


# ---- Webhook ----


def test_a_drain_is_posted_to_the_webhook_with_the_template(
    local_system: LocalSystem, cluster: LocalCluster, workers: Iterator[SeededInstance], tmp_path: Path
) -> None:
    worker = next(workers)
    token = f"T0-B0-{uuid.uuid4().hex}"  # what a Slack URL carries: it must appear nowhere else
    with WebhookServer(tmp_path) as server:
        # Given the webhook's URL in a secret, the handler trusting the server's CA, and a template
        secret = _webhook_secret(local_system, server.url(f"/services/{token}"))
        environment = {
            ENV_SPOT_WEBHOOK_URL_SECRET_ARN: secret,
            ENV_SPOT_WEBHOOK_TEMPLATE: TEMPLATE,
            ENV_LOCAL_WEBHOOK_CA_BUNDLE: str(server.ca_bundle),
        }
        # When the handler drains a Spot worker
        with support.spot_handler_environment(local_system, **environment):
            outcome = _drained(local_system, worker)
        _assert_drained(outcome, cluster, worker)
        # Then the webhook got one JSON POST rendered from the template
        (received,) = server.wait_for(1)
    assert (received.path, received.content_type) == (f"/services/{token}", "application/json")
    assert json.loads(received.body) == {
        "cluster": cluster.name,
        "node": cluster.kube.node_name(worker.instance_id),
        "instance": worker.instance_id,
        "event_type": "EC2 Spot Instance Interruption Warning",
        "result": "drained",
        "pods_left": 0,
        "pods_evicted": outcome["pods_evicted"],
        "event_id": outcome["event_id"],
    }
    assert [line["channels"] for line in _notification_lines(local_system, outcome["event_id"])] == [["webhook"]]
    # And the URL's token is in no log line (the teardown's secret scan checks the whole URL too)
    assert not [line for line in local_system.aws.captured_logs if token in line]


def _webhook_failure(
    local_system: LocalSystem, cluster: LocalCluster, worker: SeededInstance, url: str, ca_bundle: Path | None
) -> list[dict[str, Any]]:
    """Drain `worker` with the webhook at `url` (asserting the drain is as without it): the notification's log
    lines."""
    environment = {ENV_SPOT_WEBHOOK_URL_SECRET_ARN: _webhook_secret(local_system, url)}
    if ca_bundle is not None:
        environment[ENV_LOCAL_WEBHOOK_CA_BUNDLE] = str(ca_bundle)
    failures_before = sum(support.emf_metric(local_system, "NotificationFailures"))
    with support.spot_handler_environment(local_system, **environment):
        outcome = _drained(local_system, worker)
    _assert_drained(outcome, cluster, worker)
    assert sum(support.emf_metric(local_system, "NotificationFailures")) == failures_before + 1
    return _notification_lines(local_system, outcome["event_id"])


def test_a_webhook_that_is_down_fails_the_notification_not_the_drain(
    local_system: LocalSystem, cluster: LocalCluster, workers: Iterator[SeededInstance]
) -> None:
    # Given a webhook URL nothing listens on; when a Spot worker is drained
    url = f"https://127.0.0.1:{closed_port()}/services/down-{uuid.uuid4().hex}"
    lines = _webhook_failure(local_system, cluster, next(workers), url, None)
    # Then the drain completed as always (checked above), the record was acknowledged (not in the DLQ), and the
    # failure is logged by its type, without the URL
    assert [(line["channel"], line["error"]) for line in lines] == [("webhook", "NewConnectionError")]
    assert support.queued_messages(local_system, "SpotDeadLetterQueueUrl") == 0
    assert not [line for line in local_system.aws.captured_logs if url.rsplit("/", 1)[-1] in line]


def test_a_webhook_that_never_answers_fails_the_notification_not_the_drain(
    local_system: LocalSystem, cluster: LocalCluster, workers: Iterator[SeededInstance], tmp_path: Path
) -> None:
    with WebhookServer(tmp_path, hang=True) as server:
        # Given a webhook that takes the request and never answers
        url = server.url("/services/slow")
        lines = _webhook_failure(local_system, cluster, next(workers), url, server.ca_bundle)
        # Then it did get the request, and the handler gave up on it with the drain done: by its read timeout,
        # or by the wait for the notifications, whichever a loaded machine reaches first
        assert len(server.wait_for(1)) == 1
    ((channel, error),) = [(line["channel"], line["error"]) for line in lines]
    assert channel == "webhook" and error in ("ReadTimeoutError", "no answer within 3 s")


def test_an_untrusted_webhook_certificate_is_refused(
    local_system: LocalSystem, cluster: LocalCluster, workers: Iterator[SeededInstance], tmp_path: Path
) -> None:
    with WebhookServer(tmp_path) as server:
        # Given a webhook whose CA the handler was not given; when a Spot worker is drained
        lines = _webhook_failure(local_system, cluster, next(workers), server.url("/services/x"), None)
    # Then nothing was posted: verification is on
    assert server.received == []
    assert [(line["channel"], line["error"]) for line in lines] == [("webhook", "SSLError")]
