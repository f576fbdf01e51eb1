"""Notifications of an interruption's outcome: an SNS message and/or an HTTPS webhook (as NTH's WEBHOOK_URL and
WEBHOOK_TEMPLATE), sent once the outcome is known.

A notification never fails the drain: every failure (the secret unreadable, the URL not https, a refused or
slow request, a bad template) is reported to the caller, which logs and counts it. The webhook's URL often
carries a credential (Slack, Teams): it is read from Secrets Manager and never enters a log, an exception
message or a report (failures are named by their type or HTTP status only).
"""

import json
import re
import string
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kops_lambda.constants import PRODUCT
from kops_lambda.errors import InvalidSettings, KopsOnboardError
from kops_lambda.logic.spot.outcome import SpotOutcome
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_lambda.settings import SpotSettings

# Outcomes worth telling someone: the node was acted on, or already was as asked. Not ignored, duplicate
# (a second event of one interruption), rejected (not an authentic event: counted and alarmed on instead, and a
# flood of forged events must not become a flood of messages) or dry-run.
NOTIFIED_RESULTS = frozenset({"tainted", "cordoned", "drained", "drain-incomplete", "unchanged"})
# How long the handler waits for the notifications of one outcome, in all; the drain is over by then.
WAIT_SECONDS = 3.0
TEMPLATE_MAX_CHARS = 2048  # Lambda's whole environment is limited to 4 KB
SUBJECT_MAX_CHARS = 100  # SNS's limit

# Placeholders a template may use, with the sample values the synth renders it with.
FIELDS: Mapping[str, str] = {
    "cluster": "prod.k8s.example.com",
    "node": "i-0123456789abcdef0",
    "instance": "i-0123456789abcdef0",
    "region": "us-east-1",
    "account": "123456789012",
    "event_id": "7d9a2f4e-0000-4000-8000-000000000000",
    "event_type": "EC2 Spot Instance Interruption Warning",
    "kind": "warning",
    "time": "2026-12-01T00:00:00Z",
    "action": "drain",
    "result": "drain-incomplete",
    "reason": 'a "quoted" reason\\with a backslash',
    "pods_evicted": "12",
    "pods_left": "1",
    "pods_skipped": "3",
    "pods_force_deleted": "0",
    "drain_seconds": "41.2",
    "replacement": "replacement requested: detached from nodes-us-east-1a.prod.k8s.example.com",
}
# Like NTH's default webhook text, as a JSON body Slack and Teams (incoming webhooks) accept.
DEFAULT_TEMPLATE = (
    '{"text": "[' + PRODUCT + "] $event_type: cluster $cluster, node $node (instance $instance): $result "
    '($action); pods evicted $pods_evicted, left $pods_left. $reason Event $event_id at $time"}'
)
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,251}(\.fifo)?")
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}")
# A complete secret ARN (Secrets Manager's 6-character suffix included): the grant names exactly that secret.
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}")


class NotificationFailed(Exception):
    """One channel failed; the message is safe to log (never the URL)."""


@dataclass(frozen=True)
class Channels:
    """Where to send. `webhook_url` reads the URL (cached by the caller); `post` sends a body to it and returns
    the HTTP status. Clients come from the caller, as everywhere in logic/."""

    sns: Any | None = None
    topic_arn: str = ""
    webhook_url: Callable[[], str] | None = None
    post: Callable[[str, str], int] | None = None
    template: str = DEFAULT_TEMPLATE

    @property
    def configured(self) -> bool:
        return bool(self.topic_arn and self.sns is not None) or bool(self.webhook_url and self.post)


@dataclass(frozen=True)
class NotificationReport:
    sent: tuple[str, ...] = ()  # channel names: sns, webhook
    failed: tuple[tuple[str, str], ...] = ()  # (channel, what failed: a type name or an HTTP status)

    def metrics(self) -> dict[str, float]:
        return {"NotificationsSent": len(self.sent), "NotificationFailures": len(self.failed)}


def fields_of(outcome: SpotOutcome, event: Ec2InterruptionEvent) -> dict[str, str]:
    """The template's values; absent ones are empty strings."""
    values: dict[str, object] = {
        "cluster": outcome.cluster_name,
        "node": outcome.node_name,
        "instance": outcome.instance_id,
        "region": event.region,
        "account": event.account,
        "event_id": outcome.event_id,
        "event_type": event.detail_type,
        "kind": outcome.kind,
        "time": event.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": outcome.action,
        "result": outcome.result,
        "reason": outcome.reason,
        "pods_evicted": outcome.pods_evicted,
        "pods_left": outcome.pods_left,
        "pods_skipped": outcome.pods_skipped,
        "pods_force_deleted": outcome.pods_force_deleted,
        "drain_seconds": "" if outcome.drain_seconds is None else outcome.drain_seconds,
        "replacement": outcome.replacement,
    }
    return {key: "" if value is None else str(value) for key, value in values.items()}


def render_body(template: str, fields: Mapping[str, str]) -> str:
    """The webhook body: `template` with each $placeholder replaced by its JSON-escaped value (no quotes
    added: the template puts them). string.Template only substitutes; nothing in it is evaluated."""
    escaped = {key: json.dumps(value)[1:-1] for key, value in fields.items()}
    return string.Template(template).substitute(escaped)


def template_problem(template: str) -> str | None:
    """Why `template` cannot be used (rendered with the sample values), or None."""
    if len(template) > TEMPLATE_MAX_CHARS:
        return f"longer than {TEMPLATE_MAX_CHARS} characters"
    try:
        body = render_body(template, FIELDS)
    except KeyError as exc:
        return f"unknown placeholder ${exc.args[0]} (known: {', '.join('$' + k for k in FIELDS)})"
    except ValueError as exc:  # a lone `$`: write `$$` for a dollar sign
        return f"{exc} (write $$ for a dollar sign)"
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return f"does not render to JSON with sample values ({exc.msg} at character {exc.pos})"
    return None


def check_notification_settings(settings: SpotSettings, keys: Mapping[str, str]) -> None:
    """The synth's check; InvalidSettings names the context key (`keys`: field -> key)."""
    problems = {
        "notification_topic_arn": arn_problem(settings.notification_topic_arn, TOPIC_ARN, "an SNS topic ARN"),
        "notification_topic_key_arn": arn_problem(settings.notification_topic_key_arn, KMS_KEY_ARN, "a KMS key ARN"),
        "webhook_url_secret_arn": arn_problem(
            settings.webhook_url_secret_arn, _SECRET_ARN, "a complete Secrets Manager secret ARN (with its suffix)"
        ),
        "webhook_template": template_problem(settings.webhook_template) if settings.webhook_template else None,
    }
    if settings.notification_topic_key_arn and not settings.notification_topic_arn:
        problems["notification_topic_key_arn"] = "given without a topic"
    if settings.webhook_template and not settings.webhook_url_secret_arn:
        problems["webhook_template"] = "given without a webhook URL secret"
    for field, problem in problems.items():
        if problem:
            raise InvalidSettings(f"{keys.get(field, field)}: {problem}")


def arn_problem(value: str, pattern: re.Pattern[str], what: str) -> str | None:
    if not value or pattern.fullmatch(value):
        return None
    return f"{value!r} is not {what}"


def sns_request(topic_arn: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """Publish's arguments: a subject, the fields as a JSON message, and cluster/result/kind as message
    attributes so that subscriptions can filter."""
    subject = f"{PRODUCT}: {fields['result']} {fields['node'] or fields['instance']} ({fields['cluster'] or '-'})"
    # SNS takes a subject of printable ASCII without line breaks.
    subject = "".join(c if " " <= c <= "~" else "?" for c in subject)[:SUBJECT_MAX_CHARS]
    attributes = {
        name: {"DataType": "String", "StringValue": fields[name]}
        for name in ("cluster", "result", "kind")
        if fields[name]  # SNS refuses an empty attribute value
    }
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Subject": subject,
        "Message": json.dumps({"source": PRODUCT, **fields}, sort_keys=True),
        "MessageAttributes": attributes,
    }
    if topic_arn.endswith(".fifo"):
        request |= {"MessageGroupId": fields["cluster"] or "-", "MessageDeduplicationId": fields["event_id"]}
    return request


def publish(sns: Any, topic_arn: str, fields: Mapping[str, str]) -> None:
    sns.publish(**sns_request(topic_arn, fields))


def post_webhook(url: str, body: str, post: Callable[[str, str], int]) -> None:
    """POST the body; anything but 2xx fails (named by its status only)."""
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise NotificationFailed("the webhook URL secret does not hold an https URL")
    status = post(url, body)
    if not 200 <= status < 300:
        raise NotificationFailed(f"the webhook answered HTTP {status}")


def notify(
    outcome: SpotOutcome,
    event: Ec2InterruptionEvent,
    channels: Channels,
    *,
    executor: Executor,
    wait_seconds: float = WAIT_SECONDS,
) -> NotificationReport:
    """Send the outcome on every configured channel at once and wait for them, `wait_seconds` at most. Never
    raises: what failed or did not finish in time is in the report."""
    if outcome.result not in NOTIFIED_RESULTS or not channels.configured:
        return NotificationReport()
    fields = fields_of(outcome, event)
    sends: dict[str, Callable[[], None]] = {}
    if channels.topic_arn and channels.sns is not None:
        sns = channels.sns
        sends["sns"] = lambda: publish(sns, channels.topic_arn, fields)
    if channels.webhook_url is not None and channels.post is not None:
        webhook_url, post = channels.webhook_url, channels.post
        sends["webhook"] = lambda: post_webhook(webhook_url(), render_body(channels.template, fields), post)
    futures: dict[str, Future[None]] = {name: executor.submit(send) for name, send in sends.items()}
    wait(futures.values(), timeout=wait_seconds)
    sent: list[str] = []
    failed: list[tuple[str, str]] = []
    for name, future in futures.items():
        if not future.done():
            # Left to finish on its own (its client's timeouts end it); the record is not held for it.
            failed.append((name, f"no answer within {wait_seconds:g} s"))
            continue
        error = future.exception()
        if error is None:
            sent.append(name)
        else:
            failed.append((name, _safe_description(error)))
    return NotificationReport(sent=tuple(sent), failed=tuple(failed))


def _safe_description(error: BaseException) -> str:
    # Only our own messages: an HTTP library's (urllib3's MaxRetryError, ...) quote the URL.
    if isinstance(error, NotificationFailed | KopsOnboardError):
        return str(error)
    code = getattr(error, "response", None)
    if isinstance(code, dict) and "Error" in code:  # botocore ClientError: its code names what was refused
        return f"{type(error).__name__} {code['Error'].get('Code', '')}".strip()
    return type(error).__name__
