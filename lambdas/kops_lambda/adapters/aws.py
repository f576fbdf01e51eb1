"""boto3 clients, built lazily and cached per process (never at import time)."""

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode with a bounded number of attempts: throttling is retried a little here,
# then surfaces as AwsThrottled so the workflow's Retry (with jitter) takes over.
_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=20)


@lru_cache(maxsize=32)
def client(service_name: str, region_name: str | None = None) -> Any:
    """A cached boto3 client; honours AWS_ENDPOINT_URL like every AWS SDK."""
    session: Any = boto3.session.Session()
    return session.client(service_name, region_name=region_name, config=_CONFIG)


def resource(service_name: str, region_name: str | None = None) -> Any:
    session: Any = boto3.session.Session()
    return session.resource(service_name, region_name=region_name, config=_CONFIG)
