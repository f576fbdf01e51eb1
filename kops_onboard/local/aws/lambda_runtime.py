"""Run a moto Lambda function's handler in this Python process instead of a Docker container.

The function's `Handler` (`package.module.function`) is imported from the current environment; the zip moto
stores is never unpacked. Modules stay cached per process (a warm container that never goes cold), so
module-level state persists across invocations like in a reused Lambda sandbox.

Invocations are serialized: the environment, `sys.stdout` and logger handlers are process-global. The
handler runs on its own thread so a Timeout can be enforced; a timed-out thread is abandoned (Python cannot
kill it) and its result discarded, but it may keep running with whatever environment is current.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaFunction

from kops_onboard.local.aws.endpoint import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY
from kops_onboard.local.aws.lambda_context import LambdaContext
from kops_onboard.local.aws.lambda_faults import LambdaFault, LambdaFaultPlan
from kops_onboard.local.aws.log_capture import Capture, capturing
from kops_onboard.local.aws.process_env import applied_environment

LogSink = Callable[[Sequence[str]], None]
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvocationResult:
    payload: str
    """The response document as JSON text (the handler's return value, or the AWS error shape)."""
    errored: bool
    logs: str
    request_id: str


class _HandlerLoadError(Exception):
    """An error the Lambda runtime itself reports (its errorType is not a Python class name)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def error_document(error_type: str, message: str, stack_trace: list[str]) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack_trace})


def _resolve_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    if not module_name or not attribute:
        raise _HandlerLoadError("Runtime.MalformedHandlerName", f"Bad handler '{handler}'")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise _HandlerLoadError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    except ImportError as exc:
        raise _HandlerLoadError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _HandlerLoadError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
    return function  # type: ignore[no-any-return]


class _Outcome:
    def __init__(self) -> None:
        self.payload = ""
        self.errored = False


def _run_handler(handler: str, event: Any, context: LambdaContext, capture: Capture, outcome: _Outcome) -> None:
    capture.attach_current_thread()
    try:
        result = _resolve_handler(handler)(event, context)
    except _HandlerLoadError as exc:
        print(f"[ERROR] {exc.error_type}: {exc}", file=sys.stderr)
        outcome.payload, outcome.errored = error_document(exc.error_type, str(exc), []), True
        return
    except SystemExit as exc:
        outcome.payload, outcome.errored = (
            error_document("Runtime.ExitError", f"exit status {exc.code}", []),
            True,
        )
        return
    except Exception as exc:
        # Like the Python runtime: the class name becomes errorType, which Step Functions matches by name.
        user_frames = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this runtime's frame
        stack = traceback.format_list(traceback.extract_tb(user_frames))
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        print("".join(traceback.format_exception(type(exc), exc, user_frames)), file=sys.stderr)
        outcome.payload, outcome.errored = error_document(type(exc).__name__, str(exc), stack), True
        return
    try:
        outcome.payload = json.dumps(result)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        outcome.payload, outcome.errored = error_document("Runtime.MarshalError", message, []), True


class InProcessLambdaRuntime:
    """Executes moto `LambdaFunction`s with the real handler code, one at a time."""

    def __init__(self, *, endpoint_url: str, log_sink: LogSink, async_workers: int = 2) -> None:
        self._endpoint_url = endpoint_url
        self._log_sink = log_sink
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=async_workers, thread_name_prefix="local-lambda-async")
        self._pending_lock = threading.Lock()
        self._pending_async = 0
        # Test control: named failures injected before or after a handler (see lambda_faults).
        self.faults = LambdaFaultPlan()

    def invoke(self, function: LambdaFunction, event: Any) -> InvocationResult:
        hold = self.faults.take_hold(function.function_name)
        if hold is not None:
            hold.wait_for_release()
        fault = self.faults.take(function.function_name, event)
        if fault is not None and not fault.after_handler:
            return self._injected(function, fault, "")
        result = self._invoke(function, event)
        if fault is not None and not result.errored:
            return self._injected(function, fault, result.logs)
        return result

    def _injected(self, function: LambdaFunction, fault: LambdaFault, logs: str) -> InvocationResult:
        """What the handler would have returned had it raised `fault.error_type` (its logs, if it ran)."""
        request_id = str(uuid.uuid4())
        line = f"[ERROR] {fault.error_type}: {fault.message} (injected into {function.function_name})"
        self._log_sink([line])
        payload = error_document(fault.error_type, fault.message, [])
        return InvocationResult(payload=payload, errored=True, logs=f"{logs}\n{line}".strip(), request_id=request_id)

    def _invoke(self, function: LambdaFunction, event: Any) -> InvocationResult:
        request_id = str(uuid.uuid4())
        timeout = float(function.timeout or 3)
        started = datetime.now(UTC)
        log_stream = f"{started:%Y/%m/%d}/[{function.version}]{uuid.uuid4().hex}"
        with self._lock:
            context = LambdaContext(
                function_name=function.function_name,
                function_version=str(function.version),
                invoked_function_arn=function.function_arn,
                memory_limit_in_mb=int(function.memory_size or 128),
                aws_request_id=request_id,
                log_group_name=function.logs_group_name,
                log_stream_name=log_stream,
                deadline_monotonic=time.monotonic() + timeout,
            )
            clock = time.monotonic()
            with capturing() as capture, applied_environment(self._environment_for(function, log_stream)):
                outcome = _Outcome()
                worker = threading.Thread(
                    target=_run_handler,
                    args=(function.handler, event, context, capture, outcome),
                    name=f"lambda-{function.function_name}",
                    daemon=True,
                )
                worker.start()
                worker.join(timeout)
                timed_out = worker.is_alive()
            duration_ms = (time.monotonic() - clock) * 1000
            handler_text = capture.text()
        if timed_out:
            message = f"Task timed out after {timeout:.2f} seconds"
            payload, errored = error_document("Sandbox.Timedout", message, []), True
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            handler_text += f"{now} {request_id} {message}\n"
        else:
            payload, errored = outcome.payload, outcome.errored
        lines = [
            f"START RequestId: {request_id} Version: {function.version}",
            *handler_text.splitlines(),
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {context.memory_limit_in_mb} MB",
        ]
        self._publish_logs(function, log_stream, lines)
        return InvocationResult(payload=payload, errored=errored, logs="\n".join(lines), request_id=request_id)

    def invoke_async(self, function: LambdaFunction, event: Any) -> None:
        """Queue an Event-type invocation (no retries on error; AWS would retry twice)."""
        with self._pending_lock:
            self._pending_async += 1
        future = self._executor.submit(self.invoke, function, event)
        future.add_done_callback(self._async_done)

    def _async_done(self, future: Future[InvocationResult]) -> None:
        with self._pending_lock:
            self._pending_async -= 1
        if not future.cancelled() and future.exception() is not None:
            _LOG.warning("async invocation failed to run", exc_info=future.exception())

    @property
    def pending_async(self) -> int:
        with self._pending_lock:
            return self._pending_async

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _environment_for(self, function: LambdaFunction, log_stream: str) -> dict[str, str]:
        # No X-Ray daemon locally: Powertools' Tracer would otherwise try to emit segments.
        defaults = {"POWERTOOLS_TRACE_DISABLED": "true"}
        configured = {str(key): str(value) for key, value in (function.environment_vars or {}).items()}
        reserved = {
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ENDPOINT_URL": self._endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size or 128),
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "_HANDLER": str(function.handler),
        }
        return {**defaults, **configured, **reserved}

    def _publish_logs(self, function: LambdaFunction, log_stream: str, lines: list[str]) -> None:
        self._log_sink(lines)
        # Mirror to moto's CloudWatch Logs so `logs filter-log-events` works against the local endpoint.
        now_ms = int(time.time() * 1000)
        backend = function.logs_backend
        backend.ensure_log_group(function.logs_group_name)
        backend.create_log_stream(function.logs_group_name, log_stream)
        events = [{"timestamp": now_ms, "message": line} for line in lines]
        backend.put_log_events(function.logs_group_name, log_stream, events)
