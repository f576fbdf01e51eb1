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


GLOBAL_STS_REGION = "us-east-1"  # the region the global endpoint signs for


def sts_endpoint(region_name: str, *, global_endpoint: bool = False) -> str:
    """AWS's STS endpoint that aws-iam-authenticator accepts in a token: the region's, or the global one
    (authenticators before v0.5 accept only that; China has no global endpoint)."""
    if region_name.startswith("cn-"):
        return f"https://sts.{region_name}.amazonaws.com.cn"
    return "https://sts.amazonaws.com" if global_endpoint else f"https://sts.{region_name}.amazonaws.com"


@lru_cache(maxsize=8)
def token_sts_client(region_name: str, global_endpoint: bool = False) -> Any:
    """The STS client that presigns aws-iam-authenticator tokens (`logic.cluster.access.authenticator_token`),
    for the region's endpoint or (`global_endpoint`) the global one.

    Its endpoint is always AWS's own, even where AWS_ENDPOINT_URL points every other client elsewhere (the
    local system): presigning sends nothing, and the token's URL must name a host the authenticator accepts.
    """
    session: Any = boto3.session.Session()
    use_global = global_endpoint and not region_name.startswith("cn-")
    signing_region = GLOBAL_STS_REGION if use_global else region_name
    endpoint = sts_endpoint(region_name, global_endpoint=use_global)
    return session.client("sts", region_name=signing_region, endpoint_url=endpoint, config=_CONFIG)
