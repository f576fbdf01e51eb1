"""A Powertools-logged handler that tests never import: the runtime imports it on first invocation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="local-aws-tests")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    logger.info("handled", extra={"marker": event["marker"]})
    return {"ok": True}
