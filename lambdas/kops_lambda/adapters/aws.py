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


def sts_endpoint(region_name: str) -> str:
    """AWS's regional STS endpoint, the host aws-iam-authenticator accepts in a token."""
    suffix = "amazonaws.com.cn" if region_name.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region_name}.{suffix}"


@lru_cache(maxsize=8)
def token_sts_client(region_name: str) -> Any:
    """The STS client that presigns aws-iam-authenticator tokens (`logic.cluster.access.authenticator_token`).

    Its endpoint is always AWS's own, even where AWS_ENDPOINT_URL points every other client elsewhere (the
    local system): presigning sends nothing, and the token's URL must name a host the authenticator accepts.
    """
    session: Any = boto3.session.Session()
    return session.client("sts", region_name=region_name, endpoint_url=sts_endpoint(region_name), config=_CONFIG)
