"""botocore clients for the local endpoint (dummy credentials: moto accepts any)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"


def local_client(
    service_name: str,
    *,
    endpoint_url: str,
    region: str,
    session: boto3.session.Session | None = None,
    config: Config | None = None,
) -> Any:
    """A client that talks to `endpoint_url` and never picks up the host's AWS credentials or profile."""
    return (session or boto3.session.Session()).client(  # type: ignore[call-overload]
        service_name,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        config=config,
    )
