"""Placeholder for onboarding steps whose issue has not landed: it records that it did nothing.

The README's status table lists which steps still use it.
"""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.models.steps import StepRequest, parse_model
from kops_lambda.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_model(StepRequest, event)
    request.onboard_input()
    return {"step": os.environ.get("STEP_NAME", "unknown"), "status": "not-implemented"}
