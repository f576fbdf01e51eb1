"""Scheduled access-key rotation: on an EventBridge schedule (daily), replace every onboarded cluster's access
key older than accessKeyRotationDays (logic/access_key_rotation).

Per run it publishes `AccessKeysRotated`, `AccessKeyRotationsFailed` (the alarm's metric),
`AccessKeyRotationsBusy` (skipped: the cluster's lease was held) and `AccessKeyRotationNotificationFailures`,
and logs each cluster's result with key ids only.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.notifications import sns_client
from kops_lambda.logic.access_key_rotation import (
    RotationDependencies,
    RotationOutcome,
    RotationResult,
    rotate_old_access_keys,
)
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_rotation_settings, load_settings


def _log(result: RotationResult) -> None:
    if result.outcome is RotationOutcome.FAILED:
        logger.warning("access key rotation failed; the old key still works", extra=result.record())
    elif result.notified is False:
        logger.warning("access key rotated; its notification was not sent", extra=result.record())
    else:
        logger.info("access key rotation result", extra=result.record())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, rotation = load_settings(), load_rotation_settings()
    topic = rotation.topic_arn
    results = rotate_old_access_keys(
        RotationDependencies(
            iam=client("iam"),
            secretsmanager=client("secretsmanager"),
            registry_table=resource("dynamodb").Table(settings.registry_table),
            stepfunctions=client("stepfunctions"),
            kms_key_id=settings.secrets_kms_key,
            owner=f"{context.invoked_function_arn}#{context.aws_request_id}",
            # Published in the topic's region (its ARN's fourth field).
            sns=sns_client(topic.split(":")[3]) if topic else None,
            topic_arn=topic,
        ),
        max_age=timedelta(days=rotation.days),
        now=datetime.now(UTC),
    )
    for result in results:
        _log(result)
    by_outcome = {outcome: [r.cluster_name for r in results if r.outcome is outcome] for outcome in RotationOutcome}
    notification_failures = sum(1 for r in results if r.notified is False)
    for name, value in (
        ("AccessKeysRotated", len(by_outcome[RotationOutcome.ROTATED])),
        ("AccessKeyRotationsFailed", len(by_outcome[RotationOutcome.FAILED])),
        ("AccessKeyRotationsBusy", len(by_outcome[RotationOutcome.BUSY])),
        ("AccessKeyRotationNotificationFailures", notification_failures),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return {
        "checked": len(results),
        **{str(outcome): names for outcome, names in by_outcome.items()},
        "notification_failures": notification_failures,
        "results": [r.record() for r in results],
    }
