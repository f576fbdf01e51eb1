"""Powertools logger, tracer and metrics, created once per process."""

import threading
from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer

from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT

logger = Logger(service=PRODUCT)
tracer = Tracer(service=PRODUCT)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=PRODUCT)

_metrics_lock = threading.Lock()


def add_metrics(values: Mapping[str, float], units: Mapping[str, str]) -> None:
    """Add each metric (unit from `units`, else Count); safe from several threads, since Metrics keeps one
    buffer per invocation."""
    with _metrics_lock:
        for name, value in values.items():
            metrics.add_metric(name=name, unit=units.get(name, "Count"), value=value)
