"""Notifications of an interruption's outcome (logic/spot/notify.py, adapters/notifications.py): the body a
template renders, the synth's checks, SNS through moto, the webhook client against a local HTTPS server, and
failures that never escape."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import urllib3

from kops_lambda.adapters import notifications
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.spot import notify as spot_notify
from kops_lambda.logic.spot.notify import Channels
from kops_lambda.logic.spot.outcome import SpotOutcome
from kops_lambda.settings import SpotSettings, load_spot_settings, spot_settings_from
from stacks.spot import CONTEXT_KEYS
from tests.spot.conftest import REGION, WARNING, ec2_event
from tests.webhook_server import WebhookServer, closed_port

EVENT = ec2_event(WARNING, instance_id="i-0123456789abcdef0", event_id="ev-1")
OUTCOME = SpotOutcome(
    event_id="ev-1",
    instance_id="i-0123456789abcdef0",
    kind="warning",
    action="drain",
    result="drain-incomplete",
    reason='PDB "frontend" said no\\again',
    cluster_name="prod.k8s.local",
    node_name="ip-10-0-0-1.ec2.internal",
    pods_evicted=7,
    pods_left=2,
    drain_seconds=99.5,
)
TOPIC = f"arn:aws:sns:{REGION}:123456789012:spot-notes"
SECRET = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:kops-onboard/spot-webhook-AbCdEf"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=4)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


# ---- Rendering ----


def test_the_default_body_is_json_with_every_value_escaped() -> None:
    # When the default template renders an outcome whose reason holds quotes and a backslash
    body = spot_notify.render_body(spot_notify.DEFAULT_TEMPLATE, spot_notify.fields_of(OUTCOME, EVENT))
    # Then it is JSON, and the text carries the values as they were
    text = json.loads(body)["text"]
    assert 'PDB "frontend" said no\\again' in text
    for part in ("prod.k8s.local", "ip-10-0-0-1.ec2.internal", "i-0123456789abcdef0", "drain-incomplete", "left 2"):
        assert part in text
    assert "EC2 Spot Instance Interruption Warning" in text


def test_a_template_substitutes_only_what_it_names_and_evaluates_nothing() -> None:
    template = '{"node": "$node", "left": $pods_left, "note": "${cluster}: $$5 {0.__class__} %(x)s"}'
    body = json.loads(spot_notify.render_body(template, spot_notify.fields_of(OUTCOME, EVENT)))
    assert body == {"node": "ip-10-0-0-1.ec2.internal", "left": 2, "note": "prod.k8s.local: $5 {0.__class__} %(x)s"}


def test_a_value_cannot_break_out_of_its_json_string() -> None:
    hostile = replace(OUTCOME, reason='", "admin": true, "x": "\n')
    body = json.loads(spot_notify.render_body('{"reason": "$reason"}', spot_notify.fields_of(hostile, EVENT)))
    assert body == {"reason": '", "admin": true, "x": "\n'}


def test_fields_of_an_outcome_without_a_node_are_empty_strings() -> None:
    fields = spot_notify.fields_of(replace(OUTCOME, node_name=None, drain_seconds=None), EVENT)
    assert (fields["node"], fields["drain_seconds"]) == ("", "")
    assert set(fields) == set(spot_notify.FIELDS)


# ---- The synth's checks ----


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("spotWebhookTemplate", '{"x": "$nodes"}', r"unknown placeholder \$nodes"),
        ("spotWebhookTemplate", '{"x": "costs $"}', r"\$\$ for a dollar sign"),
        ("spotWebhookTemplate", '{"x": $reason}', "does not render to JSON"),
        ("spotWebhookTemplate", '{"x": "' + "a" * 3000 + '"}', "longer than 2048"),
        ("spotNotificationTopicArn", "spot-notes", "is not an SNS topic ARN"),
        ("spotNotificationTopicArn", "arn:aws:sns:us-east-1:123456789012:*", "is not an SNS topic ARN"),
        ("spotWebhookUrlSecretArn", "https://hooks.slack.com/services/T0/B0/x", "is not a complete Secrets Manager"),
        ("spotWebhookUrlSecretArn", SECRET.removesuffix("-AbCdEf"), "is not a complete Secrets Manager"),
        ("spotWebhookUrlSecretArn", SECRET.replace("AbCdEf", "*"), "is not a complete Secrets Manager"),
        ("spotNotificationTopicKeyArn", "alias/aws/sns", "is not a KMS key ARN"),
    ],
)
def test_a_bad_notification_setting_names_its_context_key(key: str, value: str, problem: str) -> None:
    field = next(f for f, k in CONTEXT_KEYS.items() if k == key)
    values = {"notification_topic_arn": TOPIC, "webhook_url_secret_arn": SECRET, field: value}
    settings = spot_settings_from(values, CONTEXT_KEYS)
    with pytest.raises(InvalidSettings, match=rf"^{key}: .*{problem}"):
        spot_notify.check_notification_settings(settings, CONTEXT_KEYS)


def test_a_template_or_key_without_its_channel_is_refused() -> None:
    with pytest.raises(InvalidSettings, match=r"^spotWebhookTemplate: given without a webhook URL secret"):
        spot_notify.check_notification_settings(SpotSettings(webhook_template='{"a": 1}'), CONTEXT_KEYS)
    key = "arn:aws:kms:us-east-1:123456789012:key/0f0f0f0f-0000-4000-8000-000000000000"
    with pytest.raises(InvalidSettings, match=r"^spotNotificationTopicKeyArn: given without a topic"):
        spot_notify.check_notification_settings(SpotSettings(notification_topic_key_arn=key), CONTEXT_KEYS)


def test_good_settings_pass_and_keep_their_case_through_the_environment() -> None:
    template = '{"Text": "$node"}'
    settings = SpotSettings(
        notification_topic_arn=TOPIC + ".fifo", webhook_url_secret_arn=SECRET, webhook_template=template
    )
    spot_notify.check_notification_settings(settings, CONTEXT_KEYS)
    spot_notify.check_notification_settings(SpotSettings(), CONTEXT_KEYS)
    environment = settings.environment()
    assert environment["SPOT_WEBHOOK_URL_SECRET_ARN"] == SECRET and environment["SPOT_WEBHOOK_TEMPLATE"] == template
    assert load_spot_settings(environment) == settings.model_copy(update={"notification_topic_key_arn": ""})
    # Unset, they stay out of the environment
    assert not [name for name in SpotSettings().environment() if "NOTIFICATION" in name or "WEBHOOK" in name]


# ---- SNS ----


def test_sns_request_has_a_subject_the_fields_and_filterable_attributes() -> None:
    request = spot_notify.sns_request(TOPIC, spot_notify.fields_of(OUTCOME, EVENT))
    assert request["Subject"] == "kops-onboard: drain-incomplete ip-10-0-0-1.ec2.internal (prod.k8s.local)"
    assert json.loads(request["Message"])["pods_left"] == "2"
    assert request["MessageAttributes"] == {
        "cluster": {"DataType": "String", "StringValue": "prod.k8s.local"},
        "result": {"DataType": "String", "StringValue": "drain-incomplete"},
        "kind": {"DataType": "String", "StringValue": "warning"},
    }
    assert "MessageGroupId" not in request
    fifo = spot_notify.sns_request(TOPIC + ".fifo", spot_notify.fields_of(OUTCOME, EVENT))
    assert (fifo["MessageGroupId"], fifo["MessageDeduplicationId"]) == ("prod.k8s.local", "ev-1")


def test_a_subject_is_printable_ascii_of_at_most_100_characters() -> None:
    long = replace(OUTCOME, cluster_name="ü" * 10 + "x" * 200, node_name="n\nline")
    subject = spot_notify.sns_request(TOPIC, spot_notify.fields_of(long, EVENT))["Subject"]
    assert len(subject) == 100 and all(" " <= c <= "~" for c in subject)


def test_sns_message_reaches_a_subscribed_queue(aws: Callable[[str], Any], pool: ThreadPoolExecutor) -> None:
    # Given a topic with a queue subscribed, filtering on the cluster attribute
    sns, sqs = aws("sns"), aws("sqs")
    topic = sns.create_topic(Name="spot-notes")["TopicArn"]
    queue = sqs.create_queue(QueueName="notes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"cluster": ["prod.k8s.local"]})},
    )
    # When the outcome is notified
    report = spot_notify.notify(OUTCOME, EVENT, Channels(sns=sns, topic_arn=topic), executor=pool)
    # Then it was sent, and the queue holds the message with its subject and attributes
    assert report == spot_notify.NotificationReport(sent=("sns",))
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"].startswith("kops-onboard: drain-incomplete")
    assert json.loads(envelope["Message"])["node"] == "ip-10-0-0-1.ec2.internal"
    assert envelope["MessageAttributes"]["result"] == {"Type": "String", "Value": "drain-incomplete"}


def test_a_refused_publish_is_reported_by_its_error_code(aws: Callable[[str], Any], pool: ThreadPoolExecutor) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    report = spot_notify.notify(OUTCOME, EVENT, Channels(sns=aws("sns"), topic_arn=missing), executor=pool)
    assert report.sent == () and report.failed == (("sns", "NotFoundException NotFound"),)


# ---- Which outcomes, and failures that stay inside ----


def _recording(bodies: list[str]) -> Callable[[str, str], int]:
    def post(_url: str, body: str) -> int:
        bodies.append(body)
        return 204

    return post


@pytest.mark.parametrize("result", ["tainted", "cordoned", "drained", "drain-incomplete", "unchanged"])
def test_outcomes_that_did_something_are_notified(result: str, pool: ThreadPoolExecutor) -> None:
    bodies: list[str] = []
    channels = Channels(webhook_url=lambda: "https://hooks.example.com/x", post=_recording(bodies))
    report = spot_notify.notify(replace(OUTCOME, result=result), EVENT, channels, executor=pool)
    assert report.sent == ("webhook",) and len(bodies) == 1


@pytest.mark.parametrize("result", ["ignored", "duplicate", "rejected", "dry-run"])
def test_outcomes_that_did_nothing_are_not(result: str, pool: ThreadPoolExecutor) -> None:
    bodies: list[str] = []
    channels = Channels(webhook_url=lambda: "https://hooks.example.com/x", post=_recording(bodies))
    assert spot_notify.notify(replace(OUTCOME, result=result), EVENT, channels, executor=pool).sent == ()
    assert bodies == []


def _failing(error: Exception) -> Callable[[str, str], int]:
    def post(_url: str, _body: str) -> int:
        raise error

    return post


@pytest.mark.parametrize(
    ("url", "post", "expected"),
    [
        ("http://hooks.example.com/T0/secret-token", lambda _u, _b: 200, "does not hold an https URL"),
        ("https://hooks.example.com/T0/secret-token", lambda _u, _b: 404, "the webhook answered HTTP 404"),
        (
            "https://hooks.example.com/T0/secret-token",
            _failing(
                urllib3.exceptions.MaxRetryError(urllib3.HTTPSConnectionPool("hooks.example.com"), "/T0/secret-token")
            ),
            "MaxRetryError",
        ),
    ],
)
def test_a_failed_webhook_is_reported_without_its_url(
    url: str, post: Callable[[str, str], int], expected: str, pool: ThreadPoolExecutor
) -> None:
    report = spot_notify.notify(OUTCOME, EVENT, Channels(webhook_url=lambda: url, post=post), executor=pool)
    ((channel, what),) = report.failed
    assert channel == "webhook" and expected in what and "secret-token" not in what


def test_an_unreadable_url_or_a_bad_template_fails_the_notification_only(pool: ThreadPoolExecutor) -> None:
    def unreadable() -> str:
        raise notifications.WebhookSecretUnreadable("webhook URL secret unreadable (ClientError AccessDenied)")

    report = spot_notify.notify(
        OUTCOME, EVENT, Channels(webhook_url=unreadable, post=lambda _u, _b: 200), executor=pool
    )
    assert report.failed == (("webhook", "webhook URL secret unreadable (ClientError AccessDenied)"),)
    bad = Channels(webhook_url=lambda: "https://h.example.com/", post=lambda _u, _b: 200, template="$nope")
    assert spot_notify.notify(OUTCOME, EVENT, bad, executor=pool).failed == (("webhook", "KeyError"),)


def test_a_send_that_does_not_finish_in_time_is_reported_and_left_behind(pool: ThreadPoolExecutor) -> None:
    # Given a webhook that answers only once released
    release = threading.Event()

    def stuck(_url: str, _body: str) -> int:
        release.wait(60)
        return 200

    channels = Channels(webhook_url=lambda: "https://hooks.example.com/x", post=stuck)
    try:
        # When the outcome is notified with a short wait
        report = spot_notify.notify(OUTCOME, EVENT, channels, executor=pool, wait_seconds=0.05)
    finally:
        release.set()
    # Then notify returned while the send was still stuck, and says so
    assert report.failed == (("webhook", "no answer within 0.05 s"),)


def test_both_channels_are_tried_when_one_fails(aws: Callable[[str], Any], pool: ThreadPoolExecutor) -> None:
    topic = aws("sns").create_topic(Name="spot-notes")["TopicArn"]
    channels = Channels(
        sns=aws("sns"), topic_arn=topic, webhook_url=lambda: "https://h.example.com/", post=lambda _u, _b: 500
    )
    report = spot_notify.notify(OUTCOME, EVENT, channels, executor=pool)
    assert report.sent == ("sns",) and report.failed == (("webhook", "the webhook answered HTTP 500"),)


# ---- The adapter: real HTTPS, the URL from Secrets Manager ----


def test_the_webhook_client_trusts_the_given_ca_and_verifies_always(tmp_path: Path) -> None:
    with WebhookServer(tmp_path, status=204) as server:
        # With the server's CA added, the POST arrives as JSON
        post = notifications.poster(notifications.https_pool(str(server.ca_bundle)))
        assert post(server.url("/hooks/a"), '{"text": "hi"}') == 204
        (received,) = server.wait_for(1)
        assert (received.path, received.content_type, received.body) == (
            "/hooks/a",
            "application/json",
            b'{"text": "hi"}',
        )
        # Without it, the certificate is refused
        with pytest.raises(urllib3.exceptions.SSLError):
            notifications.poster(notifications.https_pool(None))(server.url("/hooks/b"), "{}")
    assert len(server.received) == 1


def test_a_webhook_nothing_listens_on_fails_fast() -> None:
    post = notifications.poster(notifications.https_pool(None))
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        post(f"https://127.0.0.1:{closed_port()}/x", "{}")


def test_the_url_is_read_once_and_read_again_after_a_failure(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the URL in a secret (the adapter's own client, against moto)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    notifications._secrets_client.cache_clear()
    secrets = aws("secretsmanager")
    arn = secrets.create_secret(Name="spot-webhook", SecretString=" https://hooks.example.com/T0/one \n")["ARN"]
    assert notifications.webhook_url(arn, now=0.0) == "https://hooks.example.com/T0/one"
    # When the URL is replaced, the cached one serves until it is forgotten or too old
    secrets.put_secret_value(SecretId=arn, SecretString="https://hooks.example.com/T0/two")
    assert notifications.webhook_url(arn, now=1.0) == "https://hooks.example.com/T0/one"
    notifications.forget_webhook_url(arn)
    assert notifications.webhook_url(arn, now=2.0) == "https://hooks.example.com/T0/two"
    secrets.put_secret_value(SecretId=arn, SecretString="https://hooks.example.com/T0/three")
    assert (
        notifications.webhook_url(arn, now=2.0 + notifications.URL_CACHE_SECONDS)
        == "https://hooks.example.com/T0/three"
    )
    # And a missing secret is named by its error code only
    with pytest.raises(notifications.WebhookSecretUnreadable, match="ResourceNotFoundException"):
        notifications.webhook_url(arn.replace("spot-webhook", "gone"))
    notifications.forget_webhook_url(arn)
    notifications._secrets_client.cache_clear()
