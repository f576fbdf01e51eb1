"""Spot interruption handler: SQS batches of EC2 events from EventBridge (ReportBatchItemFailures).

A failed record (API server unreachable, throttled AWS call) is reported and comes back after the queue's
visibility timeout; after 3 receives SQS moves it, intact, to the DLQ. Malformed events fail the same way.
An event that is not authentic (another account, a region the rules do not cover, a time in the future, a Spot
warning for an on-demand instance) is rejected: counted (RejectedEvents), logged with its reason, and
acknowledged, since a retry would reject it again.

Once an outcome is known, a notification (SNS and/or a webhook, when configured: logic/spot/notify.py) tells it;
its failure is logged and counted (NotificationFailures), never the record's.
"""

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters import notifications
from kops_lambda.adapters.aws import client
from kops_lambda.errors import ClusterAccessError, InvalidInput, KopsOnboardError
from kops_lambda.handlers import spot_clients
from kops_lambda.logic.spot import notify as spot_notify
from kops_lambda.logic.spot.authentic import origin_rejection, rejected
from kops_lambda.logic.spot.batch import RECORD_CONCURRENCY, concurrent_batch_processor, notify_pool, side_by_side
from kops_lambda.logic.spot.outcome import (
    FAILED_METRICS,
    MALFORMED_METRICS,
    METRIC_UNITS,
    NO_INSTANCE_METRICS,
    SpotOutcome,
)
from kops_lambda.logic.spot.service import SpotDependencies, handle_interruption, parse_queued_events
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_lambda.observability import add_metrics, logger, metrics, tracer
from kops_lambda.settings import Settings, SpotSettings, load_event_origin, load_settings, load_spot_settings

_processor = concurrent_batch_processor()


def _handle_record(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    received = time.time()
    logger.thread_safe_clear_keys()
    try:
        events = parse_queued_events(record.body)
    except InvalidInput:
        add_metrics(MALFORMED_METRICS, METRIC_UNITS)
        raise
    if len(events) == 1:
        return _handle_one(events[0], lambda_context, received).as_dict()
    # A Health event's instances: one failure fails the record, and its retry finds the others done (dedup).
    outcomes = side_by_side(events, lambda event: _handle_one(event, lambda_context, received))
    if not outcomes:
        add_metrics(NO_INSTANCE_METRICS, METRIC_UNITS)
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
            spot_clients.forget_core_apis()  # the retry re-reads the credential (it may have been renewed)
        add_metrics(FAILED_METRICS, METRIC_UNITS)
        # Our errors' messages are written to be logged; anything else is named by its type only.
        detail = str(exc) if isinstance(exc, KopsOnboardError) else ""
        failure = {"error": type(exc).__name__, "detail": detail}
        logger.warning("interruption not handled, SQS will retry it", extra=failure)
        raise
    add_metrics(outcome.metrics(), METRIC_UNITS)
    keys = {"cluster": outcome.cluster_name, "node": outcome.node_name}
    if outcome.result == "rejected":
        logger.warning(f"event rejected: {outcome.reason}", extra=keys | outcome.as_dict())
    else:
        logger.info("interruption handled", extra=keys | outcome.as_dict())
    if spot is not None:
        _notify(outcome, event, spot)
    return outcome


def _notify(outcome: SpotOutcome, event: Ec2InterruptionEvent, spot: SpotSettings) -> None:
    """Never raises: the interruption is handled whatever happens here."""
    if not (spot.notification_topic_arn or spot.webhook_url_secret_arn):
        return
    if outcome.result not in spot_notify.NOTIFIED_RESULTS:
        return
    try:
        channels = spot_clients.notification_channels(spot)
        report = spot_notify.notify(outcome, event, channels, executor=notify_pool())
    except Exception as exc:  # building a channel failed (a malformed setting): by its type only
        report = spot_notify.NotificationReport(failed=(("setup", type(exc).__name__),))
    if spot.webhook_url_secret_arn and any(channel != "sns" for channel, _ in report.failed):
        notifications.forget_webhook_url(spot.webhook_url_secret_arn)
    add_metrics(report.metrics(), METRIC_UNITS)
    # Not the outcome's keys (`result`, ...): its "interruption handled" line is the one that has them.
    keys = {"cluster": outcome.cluster_name, "node": outcome.node_name}
    for channel, what in report.failed:
        logger.warning("notification not sent", extra=keys | {"channel": channel, "error": what})
    if report.sent:
        logger.info("notification sent", extra=keys | {"channels": list(report.sent)})


def _handle(
    event: Ec2InterruptionEvent, settings: Settings, spot: SpotSettings, lambda_context: LambdaContext, received: float
) -> SpotOutcome:
    dedup = None if spot.dry_run or not settings.idempotency_table else spot_clients.dedup(settings.idempotency_table)
    if dedup is not None:
        dedup.register_lambda_context(lambda_context)
    connections = spot.eviction_concurrency * RECORD_CONCURRENCY + 4
    return handle_interruption(
        event,
        settings=spot,
        deps=SpotDependencies(
            ec2=client("ec2", event.region),
            autoscaling=client("autoscaling", event.region),
            registry_table=spot_clients.registry_table(settings.registry_table),
            # Tokens are presigned for the cluster's own region (the event's), where its authenticator verifies them.
            core_api_for=lambda arn: spot_clients.core_api(arn, event.region, connections),
            dedup=dedup,
            reporter=lambda_context.function_name,
        ),
        received_at=received,
        lambda_seconds_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    spot_clients.warm_up(settings.region, settings.registry_table)
    return dict(
        process_partial_response(event=event, record_handler=_handle_record, processor=_processor, context=context)
    )
