"""Function settings from the environment, read when a handler runs (never at import time)."""

import os
from dataclasses import dataclass

from kops_lambda.constants import (
    ENV_IDEMPOTENCY_TABLE,
    ENV_REGISTRY_TABLE,
    ENV_SECRETS_KMS_KEY,
    ENV_SPOT_DRY_RUN,
)


@dataclass(frozen=True)
class Settings:
    region: str
    registry_table: str
    idempotency_table: str
    spot_dry_run: bool
    secrets_kms_key: str | None


def load_settings() -> Settings:
    return Settings(
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        registry_table=os.environ.get(ENV_REGISTRY_TABLE, ""),
        idempotency_table=os.environ.get(ENV_IDEMPOTENCY_TABLE, ""),
        spot_dry_run=os.environ.get(ENV_SPOT_DRY_RUN, "false").lower() in {"1", "true", "yes"},
        secrets_kms_key=os.environ.get(ENV_SECRETS_KMS_KEY) or None,
    )
