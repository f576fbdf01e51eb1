"""Spot canary: on an EventBridge schedule, check every onboarded cluster's Spot drain path (logic/spot/canary).

It runs as the Spot handler's execution role: in authenticator mode the token it mints is the handler's.
Per cluster it publishes `CanaryFailed` (0/1, dimension `cluster`) and logs the result with its reason; the
alarm watches `CanaryFailedClusters` (how many failed in this run).
"""

from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client, resource, token_sts_client
from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT
from kops_lambda.logic.spot.canary import CanaryDependencies, CanaryResult, run_canary
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings, load_spot_settings


def _publish(result: CanaryResult) -> None:
    keys = {"cluster": result.cluster_name, "region": result.region, **result.record()}
    if result.ok:
        logger.info("canary: the Spot drain path works", extra=keys)
    else:
        logger.warning("canary: the Spot drain path is broken", extra=keys)
    with single_metric(
        name="CanaryFailed",
        unit=MetricUnit.Count,
        value=0 if result.ok else 1,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"service": PRODUCT},
    ) as metric:
        metric.add_dimension(name="cluster", value=result.cluster_name)
    with single_metric(
        name="CanaryMilliseconds",
        unit=MetricUnit.Milliseconds,
        value=result.duration_ms,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"service": PRODUCT},
    ) as metric:
        metric.add_dimension(name="cluster", value=result.cluster_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    results = run_canary(
        CanaryDependencies(
            registry_table=resource("dynamodb").Table(settings.registry_table),
            secretsmanager=client("secretsmanager"),
            token_sts_for=lambda region: partial(token_sts_client, region),
            force_delete=load_spot_settings().force_delete,
        )
    )
    for result in results:
        _publish(result)
    failed = [result.cluster_name for result in results if not result.ok]
    metrics.add_metric(name="CanaryFailedClusters", unit=MetricUnit.Count, value=len(failed))
    return {
        "checked": len(results),
        "failed": failed,
        "results": [{"cluster": r.cluster_name, **r.record()} for r in results],
    }
