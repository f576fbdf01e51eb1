"""The inside of one local Lambda container: a process that runs one function's handler, one invocation at
a time, until its connection closes (the runtime side is `aws/lambda_runtime.py`).

Like a Lambda sandbox, the process has the function's environment from its start, keeps its module state
(cached clients, imported modules) between invocations, and writes stdout, stderr and log records to the
invocation's log. This module stays light (no moto, no handler code): the runtime's fork server preloads it.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from kops_local.lambda_context import LambdaContext

# What the Python runtime's root logger handler writes (without its tab-separated timestamp prefix).
_LOG_FORMAT = "[%(levelname)s] %(name)s: %(message)s"


@dataclass(frozen=True)
class Invocation:
    """What the runtime sends for one invocation."""

    event: Any
    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float


@dataclass(frozen=True)
class Outcome:
    """What the worker answers: the response document (JSON text), whether it is an error, the log text."""

    payload: str
    errored: bool
    log_text: str


def error_document(error_type: str, message: str, stack_trace: list[str]) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack_trace})


class _RuntimeError(Exception):
    """An error the Lambda runtime itself reports (its errorType is not a Python class name)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _InvocationLog(io.TextIOBase):
    """sys.stdout and sys.stderr of the container: everything goes to the current invocation's log.

    Installed before any handler module is imported, so loggers that bind the stream when created
    (Powertools' Logger) write here too."""

    encoding = "utf-8"

    def __init__(self) -> None:
        self._buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self._buffer.write(text)

    def take(self) -> str:
        text, self._buffer = self._buffer.getvalue(), io.StringIO()
        return text


def _resolve(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    if not module_name or not attribute:
        raise _RuntimeError("Runtime.MalformedHandlerName", f"Bad handler '{handler}'")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise _RuntimeError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    except ImportError as exc:
        raise _RuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _RuntimeError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
    return function  # type: ignore[no-any-return]


def run_handler(handler: str, event: Any, context: LambdaContext) -> tuple[str, bool]:
    """The response document and whether it is an error, the way the Lambda Python runtime reports it."""
    try:
        result = _resolve(handler)(event, context)
    except _RuntimeError as exc:
        print(f"[ERROR] {exc.error_type}: {exc}", file=sys.stderr)
        return error_document(exc.error_type, str(exc), []), True
    except SystemExit as exc:
        return error_document("Runtime.ExitError", f"exit status {exc.code}", []), True
    except Exception as exc:
        # Like the Python runtime: the class name becomes errorType, which Step Functions matches by name.
        user_frames = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this runtime's frame
        stack = traceback.format_list(traceback.extract_tb(user_frames))
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        print("".join(traceback.format_exception(type(exc), exc, user_frames)), file=sys.stderr)
        return error_document(type(exc).__name__, str(exc), stack), True
    try:
        return json.dumps(result), False
    except (TypeError, ValueError) as exc:
        return error_document("Runtime.MarshalError", f"Unable to marshal response: {exc}", []), True


def serve(connection: Connection, environment: dict[str, str], handler: str) -> None:
    """The container's main loop (the target of its process)."""
    os.environ.clear()
    os.environ.update(environment)
    log = _InvocationLog()
    sys.stdout = sys.stderr = log
    root = logging.getLogger()
    root.handlers = [logging.StreamHandler(log)]
    root.handlers[0].setFormatter(logging.Formatter(_LOG_FORMAT))
    while True:
        try:
            invocation: Invocation = connection.recv()
        except EOFError:
            return  # the runtime let the container go
        context = LambdaContext(
            function_name=invocation.function_name,
            function_version=invocation.function_version,
            invoked_function_arn=invocation.invoked_function_arn,
            memory_limit_in_mb=invocation.memory_limit_in_mb,
            aws_request_id=invocation.aws_request_id,
            log_group_name=invocation.log_group_name,
            log_stream_name=invocation.log_stream_name,
            deadline_monotonic=time.monotonic() + invocation.timeout_seconds,
        )
        payload, errored = run_handler(handler, invocation.event, context)
        log.flush()
        connection.send(Outcome(payload=payload, errored=errored, log_text=log.take()))
