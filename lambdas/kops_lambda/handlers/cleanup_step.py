"""What every resource-removing cleanup handler does around its step: parse, log, count, summarize."""

from collections.abc import Callable
from typing import Any

from kops_lambda.logic.rollback import steps
from kops_lambda.models.rollback import CleanupRequest, CleanupSummary
from kops_lambda.models.steps import parse_model
from kops_lambda.observability import logger, metrics
from kops_lambda.settings import load_settings

# The step itself, given the validated request and the registry table.
CleanupStep = Callable[[CleanupRequest, Any], CleanupSummary]


def run_cleanup(event: dict[str, Any], what: str, step: CleanupStep) -> dict[str, Any]:
    settings = load_settings()
    request = parse_model(CleanupRequest, event)
    logger.append_keys(execution_id=request.execution_id, action=request.action)
    summary = step(request, steps.registry_table(settings.registry_table))
    logger.info(f"{what} cleaned up", extra=summary.model_dump())
    # RollbackRemovals / OffboardRemovals ("offboard-shared" counts as offboarding)
    action = request.action.split("-")[0].capitalize()
    metrics.add_metric(name=f"{action}Removals", unit="Count", value=len(summary.removed))
    return summary.model_dump(mode="json")
