"""Powertools logger, tracer and metrics, created once per process."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT

logger = Logger(service=PRODUCT)
tracer = Tracer(service=PRODUCT)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=PRODUCT)
