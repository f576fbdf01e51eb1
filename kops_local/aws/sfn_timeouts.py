"""Executions that outlive their state machine's TimeoutSeconds, as AWS reports them.

moto's interpreter already honours TimeoutSeconds: the program stops waiting for its states when it has
passed, the execution turns TIMED_OUT at once (while the task it was in may still run, as on AWS) and its
status change event is sent (`sfn_events`). Two things differ from AWS, and are patched here:

- DescribeExecution and ListExecutions leave out `stopDate` of a TIMED_OUT execution (moto lists only
  SUCCEEDED, FAILED and ABORTED);
- the task still running when the execution timed out (or was stopped) goes on in moto's worker thread,
  and when it returns, its Retry/Catch handling fails on the ended program and turns its state into an
  error: the history then ends with ExecutionFailed instead of ExecutionTimedOut. On AWS an ended
  execution's state is final, so a late error is dropped here.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
from moto.stepfunctions.responses import StepFunctionResponse

from kops_local.aws.patching import AttributePatch

_TIMED_OUT = "TIMED_OUT"


def _fill_stop_date(response: StepFunctionResponse, item: dict[str, Any]) -> None:
    if "stopDate" not in item and str(getattr(item.get("status"), "value", item.get("status"))) == _TIMED_OUT:
        item["stopDate"] = response.stepfunction_backend.describe_execution(item["executionArn"]).stop_date


def sfn_timeout_patches() -> list[AttributePatch]:
    moto_describe = vars(StepFunctionResponse)["describe_execution"]
    moto_list = vars(StepFunctionResponse)["list_executions"]
    moto_set_error = vars(Environment)["set_error"]

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        result: ActionResult = moto_describe(self)
        if isinstance(result.result, dict):
            _fill_stop_date(self, result.result)
        return result

    def list_executions(self: StepFunctionResponse) -> ActionResult:
        result: ActionResult = moto_list(self)
        if isinstance(result.result, dict):
            for item in result.result.get("executions", []):
                _fill_stop_date(self, item)
        return result

    def set_error(self: Environment, error: Any) -> None:
        if isinstance(self.program_state(), ProgramTimedOut | ProgramStopped):
            return
        moto_set_error(self, error)

    return [
        AttributePatch(StepFunctionResponse, "describe_execution", describe_execution),
        AttributePatch(StepFunctionResponse, "list_executions", list_executions),
        AttributePatch(Environment, "set_error", set_error),
    ]
