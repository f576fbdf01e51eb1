"""The Spot handler's clients, built once per warm container and shared by its record threads."""

import threading
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

import urllib3

from kops_lambda.adapters import notifications
from kops_lambda.adapters.aws import client, resource, token_sts_client
from kops_lambda.adapters.kube import KubeClient
from kops_lambda.logic.cluster.drainer_client import drainer_api_client, read_drainer_credential
from kops_lambda.logic.spot import notify as spot_notify
from kops_lambda.logic.spot.dedup import InterruptionDedup
from kops_lambda.settings import SpotSettings, load_local_webhook_ca_bundle

_build_lock = threading.Lock()


def core_api(drainer_secret_arn: str, region: str, connections: int) -> KubeClient:
    """The cluster's API client with the drainer credential; one build per cluster even when a batch's
    records all ask at once (they would each build their own)."""
    with _build_lock:
        return _build_core_api(drainer_secret_arn, region, connections)


def forget_core_apis() -> None:
    """The next record re-reads the credentials (one may have been renewed)."""
    _build_core_api.cache_clear()


@lru_cache(maxsize=16)
def _build_core_api(drainer_secret_arn: str, region: str, connections: int) -> KubeClient:
    # One TLS pool per cluster, shared by every drain (the client is thread-safe).
    # The drainer credential only: this function never reads a cluster's admin kubeconfig.
    credential = read_drainer_credential(client("secretsmanager"), drainer_secret_arn)
    # Deadline-aware code decides about 429/5xx itself: urllib3 only retries failed connects, briefly.
    retries = urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.1, respect_retry_after_header=False)
    return drainer_api_client(
        credential, partial(token_sts_client, region), retries=retries, connections=connections, now=datetime.now(UTC)
    )


@lru_cache(maxsize=2)
def registry_table(name: str) -> Any:
    # Shared by the record threads: the registry only calls Table.get_item, an action that goes straight to
    # the resource's (thread-safe) client; nothing of the resource's own state is loaded or changed.
    return resource("dynamodb").Table(name)


@lru_cache(maxsize=2)
def dedup(table_name: str) -> InterruptionDedup:
    return InterruptionDedup(table_name=table_name, dynamodb=client("dynamodb"))


def warm_up(region: str, registry_table_name: str) -> None:
    """Build the shared AWS clients once, before the records fan out: built concurrently on a cold
    container, each thread would pay for its own (hundreds of ms each, under the GIL)."""
    with _build_lock:
        for service in ("ec2", "autoscaling"):
            client(service, region)
        client("dynamodb")
        client("secretsmanager")
        token_sts_client(region)
        registry_table(registry_table_name)


def notification_channels(spot: SpotSettings) -> spot_notify.Channels:
    topic, secret = spot.notification_topic_arn, spot.webhook_url_secret_arn
    return spot_notify.Channels(
        # Published in the topic's region (its ARN's fourth field).
        sns=notifications.sns_client(topic.split(":")[3]) if topic else None,
        topic_arn=topic,
        webhook_url=partial(notifications.webhook_url, secret) if secret else None,
        post=notifications.poster(notifications.https_pool(load_local_webhook_ca_bundle())) if secret else None,
        template=spot.webhook_template or spot_notify.DEFAULT_TEMPLATE,
    )


def forget_cached() -> None:
    """Every cached client of this module (tests start each from a clean container)."""
    for cached in (_build_core_api, registry_table, dedup):
        cached.cache_clear()
