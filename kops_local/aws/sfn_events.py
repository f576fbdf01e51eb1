"""Step Functions execution status changes on the default event bus, as AWS sends them.

AWS puts an "Step Functions Execution Status Change" event (source aws.states) on the default bus whenever
an execution starts (RUNNING) or ends (SUCCEEDED, FAILED, ABORTED, TIMED_OUT); moto sends none. We patch
the end of moto's execution worker (`terminated`, reached once the program has stopped, after the state
that was running returns) and `Execution.start`.

Difference from AWS: a stopped execution turns ABORTED, and its event is sent, only once the task it was in
has returned (AWS reports ABORTED at once while the Lambda may still run). A timed-out one turns TIMED_OUT,
and its event is sent, at its TimeoutSeconds while the task may still run, as on AWS (see `sfn_timeouts`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from moto.events.models import events_backends
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

from kops_lambda.constants import SFN_EVENT_SOURCE, SFN_STATUS_CHANGE_DETAIL_TYPE
from kops_local.aws.patching import AttributePatch

_LOG = logging.getLogger(__name__)


def _epoch_ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def status_change_entry(execution: Execution) -> dict[str, Any]:
    """The PutEvents entry AWS would send for the execution's current status."""
    output = execution.output
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": execution.status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": _epoch_ms(execution.stop_date),
        "input": json.dumps(execution.input_data, separators=(",", ":")),
        "output": None if output is None else json.dumps(output, separators=(",", ":")),
        "inputDetails": {"included": True},
        "outputDetails": None if output is None else {"included": True},
        "error": execution.error,
        "cause": execution.cause,
    }
    return {
        "Source": SFN_EVENT_SOURCE,
        "DetailType": SFN_STATUS_CHANGE_DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [execution.exec_arn],
    }


def _send(execution: Execution) -> None:
    try:
        events_backends[execution.account_id][execution.region_name].put_events([status_change_entry(execution)])
    except Exception:  # a failing delivery never fails the execution (nor does it on AWS)
        _LOG.warning("status change event of %s not sent", execution.exec_arn, exc_info=True)


def sfn_status_event_patches() -> list[AttributePatch]:
    moto_terminated = vars(BaseExecutionWorkerCommunication)["terminated"]
    moto_start = vars(Execution)["start"]

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        moto_terminated(self)
        _send(self.execution)

    def start(self: Execution) -> None:
        moto_start(self)
        _send(self)

    return [
        AttributePatch(BaseExecutionWorkerCommunication, "terminated", terminated),
        AttributePatch(Execution, "start", start),
    ]
