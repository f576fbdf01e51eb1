"""The Spot notifications' outside world: an HTTPS client for the webhook, its URL read from Secrets Manager and
cached per container, an SNS client with short timeouts. Built lazily, never at import time."""

import ssl
import threading
import time
from functools import lru_cache
from typing import Any

import boto3
import certifi
import urllib3
from botocore.config import Config

from kops_lambda.errors import KopsOnboardError

# A notification is sent after the drain, inside the function's last seconds: short timeouts, no retries.
CONNECT_SECONDS = 2.0
READ_SECONDS = 2.0
URL_CACHE_SECONDS = 300.0  # a changed URL is picked up within five minutes (and after any failure)
_SHORT_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=CONNECT_SECONDS, read_timeout=READ_SECONDS
)
_urls: dict[str, tuple[str, float]] = {}
_urls_lock = threading.Lock()


class WebhookSecretUnreadable(KopsOnboardError):
    """The webhook URL's secret could not be read, or holds no string."""


@lru_cache(maxsize=4)
def https_pool(ca_bundle: str | None = None) -> urllib3.PoolManager:
    """Verifies certificates and host names against certifi's CAs, plus `ca_bundle`'s (a PEM file; the local
    system's test servers). Nothing turns verification off."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    timeout = urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS)
    return urllib3.PoolManager(ssl_context=context, timeout=timeout, retries=False, num_pools=4, maxsize=10)


def poster(pool: urllib3.PoolManager) -> Any:
    """post(url, body) -> HTTP status, for logic.spot.notify; redirects are not followed (they could lead off
    https or elsewhere)."""

    def post(url: str, body: str) -> int:
        response = pool.request(
            "POST",
            url,
            body=body.encode(),
            headers={"Content-Type": "application/json"},
            redirect=False,
            preload_content=True,
        )
        return int(response.status)

    return post


@lru_cache(maxsize=4)
def sns_client(region_name: str) -> Any:
    session: Any = boto3.session.Session()
    return session.client("sns", region_name=region_name, config=_SHORT_CONFIG)


@lru_cache(maxsize=4)
def _secrets_client(region_name: str | None) -> Any:
    session: Any = boto3.session.Session()
    return session.client("secretsmanager", region_name=region_name, config=_SHORT_CONFIG)


def webhook_url(secret_arn: str, *, now: float | None = None) -> str:
    """The URL stored in the secret (its SecretString, trimmed), cached for URL_CACHE_SECONDS."""
    moment = time.monotonic() if now is None else now
    with _urls_lock:
        cached = _urls.get(secret_arn)
        if cached is not None and moment - cached[1] < URL_CACHE_SECONDS:
            return cached[0]
    try:
        # Secrets Manager answers in the secret's own region (the ARN's fourth field).
        region = secret_arn.split(":")[3] if secret_arn.count(":") >= 6 else None
        value = _secrets_client(region).get_secret_value(SecretId=secret_arn).get("SecretString")
    except Exception as exc:  # named by type and code only: the caller logs it
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        raise WebhookSecretUnreadable(f"webhook URL secret unreadable ({type(exc).__name__} {code})".strip()) from None
    if not isinstance(value, str) or not value.strip():
        raise WebhookSecretUnreadable("webhook URL secret holds no string")
    with _urls_lock:
        _urls[secret_arn] = (value.strip(), moment)
    return value.strip()


def forget_webhook_url(secret_arn: str) -> None:
    """After a failure: the next notification reads the secret again (the URL may have been replaced)."""
    with _urls_lock:
        _urls.pop(secret_arn, None)
