"""Start Step Functions executions and follow them to the end."""

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    seconds: float


def execution_name(prefix: str) -> str:
    """Unique, readable and valid (80 chars of [A-Za-z0-9-_])."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in prefix)[:40]
    return f"{safe}-{uuid.uuid4().hex[:12]}"


def start_execution(sfn: Any, state_machine_arn: str, payload: dict[str, Any], *, name_prefix: str) -> str:
    response = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=execution_name(name_prefix), input=json.dumps(payload)
    )
    return str(response["executionArn"])


def wait_for_execution(sfn: Any, execution_arn: str, *, timeout: float = 120.0, poll: float = 0.1) -> ExecutionResult:
    started = time.monotonic()
    deadline = started + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL_STATUSES:
            output = described.get("output")
            return ExecutionResult(
                execution_arn=execution_arn,
                status=described["status"],
                output=json.loads(output) if output else None,
                error=described.get("error"),
                cause=described.get("cause"),
                seconds=time.monotonic() - started,
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {described['status']} after {timeout:.0f} s")
        time.sleep(poll)


def run_execution(
    sfn: Any, state_machine_arn: str, payload: dict[str, Any], *, name_prefix: str, timeout: float = 120.0
) -> ExecutionResult:
    arn = start_execution(sfn, state_machine_arn, payload, name_prefix=name_prefix)
    return wait_for_execution(sfn, arn, timeout=timeout)
