"""Drift check: on an EventBridge schedule (every `driftCheckMinutes`), compare every onboarded cluster with
what onboarding made (logic/drift) and record each result in its registry item (`drift`).

Per cluster it publishes `DriftedResources` and `AccessWideningDrift` (dimension `Cluster`: which cluster, what
kind), per run `DriftedClusters`, `AccessWideningClusters` and `DriftCheckFailures` (the alarms' metrics: the
clusters come and go at runtime, the alarms are the stack's), and logs each drifted resource.
"""

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.adapters.aws import client, resource
from kops_lambda.adapters.identity import caller_identity
from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT, drift_secret_readers_env
from kops_lambda.logic.cluster.settings import load_cluster_settings
from kops_lambda.logic.drift import SECRET_NAMES, DriftDependencies, check_drift
from kops_lambda.models.drift import ClusterDrift
from kops_lambda.observability import logger, metrics, tracer
from kops_lambda.settings import load_settings


def _publish(result: ClusterDrift) -> None:
    keys = {"cluster": result.cluster_name, "region": result.region}
    if result.error:
        logger.warning("drift check failed", extra={**keys, "reason": result.error})
        return
    for drifted in result.resources:
        # Nested: `name` and `kind` would clash with the log record's own keys.
        logger.warning("drift", extra={**keys, "resource": drifted.model_dump(mode="json")})
    logger.info(
        "drift check result",
        extra={**keys, "drifted": len(result.resources), "widens_access": result.widens_access},
    )
    for name, value in (
        ("DriftedResources", len(result.resources)),
        ("AccessWideningDrift", sum(r.widens_access for r in result.resources)),
    ):
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": PRODUCT},
        ) as metric:
            metric.add_dimension(name="Cluster", value=result.cluster_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, cluster_settings, identity = load_settings(), load_cluster_settings(), caller_identity()
    readers = {
        kind: [a for a in os.environ.get(drift_secret_readers_env(kind), "").split(",") if a] for kind in SECRET_NAMES
    }
    results = check_drift(
        DriftDependencies(
            iam=client("iam"),
            secretsmanager=client("secretsmanager"),
            registry_table=resource("dynamodb").Table(settings.registry_table),
            regional_client=client,
            partition=identity.partition,
            account=identity.account,
            seed_spot_role_policies=settings.seed_spot_role_policies,
            spot_role_arn=cluster_settings.spot_handler_role_arn,
            spot_force_delete=cluster_settings.spot_force_delete,
            agent_api_url=cluster_settings.agent_api_url,
            secret_readers=readers,
        )
    )
    for result in results:
        _publish(result)
    drifted = [r.cluster_name for r in results if r.drifted]
    widened = [r.cluster_name for r in results if r.widens_access]
    failed = [r.cluster_name for r in results if r.error]
    for name, names in (
        ("DriftedClusters", drifted),
        ("AccessWideningClusters", widened),
        ("DriftCheckFailures", failed),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(names))
    return {
        "checked": len(results),
        "drifted": drifted,
        "widens_access": widened,
        "failed": failed,
        "results": [r.model_dump(mode="json") for r in results],
    }
