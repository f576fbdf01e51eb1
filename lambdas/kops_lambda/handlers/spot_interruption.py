"""Spot interruption handler: SQS batches of EC2 events from EventBridge (ReportBatchItemFailures).

A failed record (API server unreachable, throttled AWS call) is reported and comes back after the queue's
visibility timeout; after 3 receives SQS moves it, intact, to the DLQ. Malformed events fail the same way.
An event that is not authentic (another account, a region the rules do not cover, a time in the future, a Spot
warning for an on-demand instance) is rejected: counted (RejectedEvents), logged with its reason, and
acknowledged, since a retry would reject it again.

Once an outcome is known, a notification (SNS and/or a webhook, when configured: logic/spot/notify.py) tells it;
its failure is logged and counted (NotificationFailures), never the record's.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters import notifications
from kops_lambda.adapters.aws import client, resource, token_sts_client
from kops_lambda.adapters.kube import KubeClient
from kops_lambda.constants import SPOT_BATCH_SIZE
from kops_lambda.errors import ClusterAccessError, InvalidInput, KopsOnboardError
from kops_lambda.logic.cluster.drainer_client import drainer_api_client, read_drainer_credential
from kops_lambda.logic.spot import notify as spot_notify
from kops_lambda.logic.spot.authentic import origin_rejection, rejected
from kops_lambda.logic.spot.dedup import InterruptionDedup
from kops_lambda.logic.spot.outcome import METRIC_UNITS, SpotOutcome
from kops_lambda.logic.spot.service import SpotDependencies, handle_interruption, parse_queued_events
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import (
    Settings,
    SpotSettings,
    load_event_origin,
    load_local_webhook_ca_bundle,
    load_settings,
    load_spot_settings,
)

# Records of one batch are independent interruptions, often a whole Spot pool reclaimed at once: handled
# one after the other, a drain waiting on a PodDisruptionBudget would eat the next nodes' two minutes.
RECORD_CONCURRENCY = SPOT_BATCH_SIZE
# Instances of one Health event handled at once (an event may name hundreds; the API servers take the load).
HEALTH_CONCURRENCY = 8
_metrics_lock = threading.Lock()
_build_lock = threading.Lock()


@lru_cache(maxsize=1)
def _record_pool() -> ThreadPoolExecutor:
    # Kept for the container's life: no thread start-up per batch.
    return ThreadPoolExecutor(max_workers=RECORD_CONCURRENCY, thread_name_prefix="spot-record")


class _ConcurrentBatchProcessor(BatchProcessor):
    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) <= 1:
            return super().process()
        return list(_record_pool().map(self._process_record, self.records))


_processor = _ConcurrentBatchProcessor(event_type=EventType.SQS)


def _core_api(drainer_secret_arn: str, region: str, connections: int) -> KubeClient:
    # One build per cluster even when a batch's records all ask at once (they would each build their own).
    with _build_lock:
        return _build_core_api(drainer_secret_arn, region, connections)


@lru_cache(maxsize=16)
def _build_core_api(drainer_secret_arn: str, region: str, connections: int) -> KubeClient:
    # Cached per warm container: one TLS pool per cluster, shared by every drain (the client is thread-safe).
    # The drainer credential only: this function never reads a cluster's admin kubeconfig.
    credential = read_drainer_credential(client("secretsmanager"), drainer_secret_arn)
    # Deadline-aware code decides about 429/5xx itself: urllib3 only retries failed connects, briefly.
    retries = urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.1, respect_retry_after_header=False)
    return drainer_api_client(
        credential, partial(token_sts_client, region), retries=retries, connections=connections, now=datetime.now(UTC)
    )


@lru_cache(maxsize=2)
def _registry_table(name: str) -> Any:
    # Shared by the record threads: the registry only calls Table.get_item, an action that goes straight to
    # the resource's (thread-safe) client; nothing of the resource's own state is loaded or changed.
    return resource("dynamodb").Table(name)


def _warm_up(region: str, registry_table: str) -> None:
    """Build the shared AWS clients once, before the records fan out: built concurrently on a cold
    container, each thread would pay for its own (hundreds of ms each, under the GIL)."""
    with _build_lock:
        for service in ("ec2", "autoscaling"):
            client(service, region)
        client("dynamodb")
        client("secretsmanager")
        token_sts_client(region)
        _registry_table(registry_table)


@lru_cache(maxsize=2)
def _dedup(table_name: str) -> InterruptionDedup:
    return InterruptionDedup(table_name=table_name, dynamodb=client("dynamodb"))


def _handle_record(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    received = time.time()
    logger.thread_safe_clear_keys()
    try:
        events = parse_queued_events(record.body)
    except InvalidInput:
        _add_metrics({"MalformedEvents": 1})
        raise
    if len(events) == 1:
        return _handle_one(events[0], lambda_context, received).as_dict()
    # A Health event's instances, side by side (each drain has the invocation's time, not a share of it); one
    # failure fails the record, and its retry finds the others done (dedup).
    with ThreadPoolExecutor(max_workers=min(len(events), HEALTH_CONCURRENCY) or 1) as pool:
        outcomes = list(pool.map(lambda event: _handle_one(event, lambda_context, received), events))
    if not outcomes:
        _add_metrics({"IgnoredEvents": 1})
        logger.info("Health event names no EC2 instance", extra={"event_id": record.message_id})
    return {"outcomes": [outcome.as_dict() for outcome in outcomes]}


def _handle_one(event: Ec2InterruptionEvent, lambda_context: LambdaContext, received: float) -> SpotOutcome:
    logger.thread_safe_append_keys(instance_id=event.detail.instance_id, event_id=event.id)
    spot: SpotSettings | None = None
    try:
        settings = load_settings()
        # The stack's account and regions, never the event's: the queue may hold what anyone put there.
        rejection = origin_rejection(event, load_event_origin(settings.region), now=received)
        if rejection is not None:
            outcome = rejected(event, rejection, now=received)
        else:
            spot = load_spot_settings()
            outcome = _handle(event, settings, spot, lambda_context, received)
    except Exception as exc:
        if isinstance(exc, ClusterAccessError):
            _build_core_api.cache_clear()  # the retry re-reads the credential (it may have been renewed)
        _add_metrics({"FailedEvents": 1})
        # Our errors' messages are written to be logged; anything else is named by its type only.
        detail = str(exc) if isinstance(exc, KopsOnboardError) else ""
        failure = {"error": type(exc).__name__, "detail": detail}
        logger.warning("interruption not handled, SQS will retry it", extra=failure)
        raise
    _add_metrics(outcome.metrics())
    keys = {"cluster": outcome.cluster_name, "node": outcome.node_name}
    if outcome.result == "rejected":
        logger.warning(f"event rejected: {outcome.reason}", extra=keys | outcome.as_dict())
    else:
        logger.info("interruption handled", extra=keys | outcome.as_dict())
    if spot is not None:
        _notify(outcome, event, spot)
    return outcome


@lru_cache(maxsize=1)
def _notify_pool() -> ThreadPoolExecutor:
    # Both channels of every outcome being handled at once (records, and a Health event's instances); a send that
    # outlives its wait finishes here. Threads start only as needed.
    return ThreadPoolExecutor(max_workers=2 * RECORD_CONCURRENCY * HEALTH_CONCURRENCY, thread_name_prefix="spot-notify")


def _channels(spot: SpotSettings) -> spot_notify.Channels:
    topic, secret = spot.notification_topic_arn, spot.webhook_url_secret_arn
    return spot_notify.Channels(
        # Published in the topic's region (its ARN's fourth field).
        sns=notifications.sns_client(topic.split(":")[3]) if topic else None,
        topic_arn=topic,
        webhook_url=partial(notifications.webhook_url, secret) if secret else None,
        post=notifications.poster(notifications.https_pool(load_local_webhook_ca_bundle())) if secret else None,
        template=spot.webhook_template or spot_notify.DEFAULT_TEMPLATE,
    )


def _notify(outcome: SpotOutcome, event: Ec2InterruptionEvent, spot: SpotSettings) -> None:
    """Never raises: the interruption is handled whatever happens here."""
    if not (spot.notification_topic_arn or spot.webhook_url_secret_arn):
        return
    if outcome.result not in spot_notify.NOTIFIED_RESULTS:
        return
    try:
        report = spot_notify.notify(outcome, event, _channels(spot), executor=_notify_pool())
    except Exception as exc:  # building a channel failed (a malformed setting): by its type only
        report = spot_notify.NotificationReport(failed=(("setup", type(exc).__name__),))
    if spot.webhook_url_secret_arn and any(channel != "sns" for channel, _ in report.failed):
        notifications.forget_webhook_url(spot.webhook_url_secret_arn)
    _add_metrics({"NotificationsSent": len(report.sent), "NotificationFailures": len(report.failed)})
    # Not the outcome's keys (`result`, ...): its "interruption handled" line is the one that has them.
    keys = {"cluster": outcome.cluster_name, "node": outcome.node_name}
    for channel, what in report.failed:
        logger.warning("notification not sent", extra=keys | {"channel": channel, "error": what})
    if report.sent:
        logger.info("notification sent", extra=keys | {"channels": list(report.sent)})


def _handle(
    event: Ec2InterruptionEvent, settings: Settings, spot: SpotSettings, lambda_context: LambdaContext, received: float
) -> SpotOutcome:
    dedup = None if spot.dry_run or not settings.idempotency_table else _dedup(settings.idempotency_table)
    if dedup is not None:
        dedup.register_lambda_context(lambda_context)
    connections = spot.eviction_concurrency * RECORD_CONCURRENCY + 4
    return handle_interruption(
        event,
        settings=spot,
        deps=SpotDependencies(
            ec2=client("ec2", event.region),
            autoscaling=client("autoscaling", event.region),
            registry_table=_registry_table(settings.registry_table),
            # Tokens are presigned for the cluster's own region (the event's), where its authenticator verifies them.
            core_api_for=lambda arn: _core_api(arn, event.region, connections),
            dedup=dedup,
            reporter=lambda_context.function_name,
        ),
        received_at=received,
        lambda_seconds_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
    )


def _add_metrics(values: dict[str, float]) -> None:
    with _metrics_lock:  # records run on several threads; Metrics keeps one buffer per invocation
        for name, value in values.items():
            metrics.add_metric(name=name, unit=METRIC_UNITS.get(name, "Count"), value=value)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    _warm_up(settings.region, settings.registry_table)
    return dict(
        process_partial_response(event=event, record_handler=_handle_record, processor=_processor, context=context)
    )
