"""The AWS half of the local system: moto in-process, with Lambda handlers, EventBridge and SQS that run.

    with LocalAws(retry_interval_scale=0.01) as aws:
        aws.client("lambda").create_function(..., Handler="kops_lambda.handlers.validate_cluster.handler")
        aws.client("stepfunctions").start_execution(stateMachineArn=..., name=unique_name, input=...)
        aws.drain_event_sources(timeout=30)
        assert not any(secret in line for line in aws.captured_logs)

What differs from AWS (beyond moto's own gaps):
- handlers are imported from this Python environment, not from the function's zip; each function runs in
  its own worker processes (containers), concurrently, see `lambda_runtime`;
- Step Functions Retry waits are multiplied by `retry_interval_scale` (process-global, see `sfn_retry`);
- EventBridge → Lambda targets and Event-type invokes are asynchronous but never retried; state machine
  targets start an execution;
- Step Functions execution status change events go on the default bus when an execution starts and ends
  (a stopped one turns ABORTED once its running task has returned), see `sfn_events`;
- SQS mappings are polled every 50 ms (no batching window); see `sqs_poller` for the exact semantics.

Fault injection (tests): `inject_lambda_fault("StoreAccessKeyFunction", error_type="Sandbox.Timedout",
after_handler=True)` makes the next invocation of a matching function fail with that errorType, before its
handler runs or after it (its changes stay, its result is lost); `hold_lambda(...)` keeps one waiting before
its handler until released; see `lambda_faults`. `aws_throttling(services=..., every=3)` answers every third
call to those services with their throttling error; see `aws_faults`.
"""

from kops_local.aws.lambda_runtime import InvocationResult
from kops_local.aws.server import LocalAws
from kops_local.lambda_context import LambdaContext

__all__ = ["InvocationResult", "LambdaContext", "LocalAws"]
