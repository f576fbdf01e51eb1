"""Spot interruption handler: SQS batches of EC2 events from EventBridge."""

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from kubernetes import client as k8s

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.kube import api_client, load_kubeconfig
from kops_lambda.errors import InvalidInput
from kops_lambda.logic.spot_service import handle_interruption, parse_interruption_event
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings

_processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=16)
def _core_api(kubeconfig_secret_arn: str) -> k8s.CoreV1Api:
    # Cached per warm container: one TLS/HTTP pool per cluster, reused across events.
    kubeconfig = load_kubeconfig(client("secretsmanager"), kubeconfig_secret_arn)
    return k8s.CoreV1Api(api_client(kubeconfig))


def _handle_record(record: SQSRecord) -> dict[str, Any]:
    settings = load_settings()
    try:
        event = parse_interruption_event(record.body)
    except InvalidInput:
        metrics.add_metric(name="MalformedEvents", unit="Count", value=1)
        raise
    logger.append_keys(instance_id=event.detail.instance_id, event_id=event.id)
    outcome = handle_interruption(
        event,
        ec2=client("ec2", event.region),
        registry_table=resource("dynamodb").Table(settings.registry_table),
        core_api_for=_core_api,
        dry_run=settings.spot_dry_run,
    )
    if outcome.action == "ignored":
        metrics.add_metric(name="IgnoredEvents", unit="Count", value=1)
    elif outcome.action == "cordoned":
        metrics.add_metric(name="NodesCordoned", unit="Count", value=1)
    logger.info("interruption handled", extra=outcome.as_dict())
    return outcome.as_dict()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(event=event, record_handler=_handle_record, processor=_processor, context=context)
    )
