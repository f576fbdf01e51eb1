"""Run moto Lambda functions' handlers in local containers: one worker process per concurrent invocation of
a function, instead of a Docker container.

Like Lambda: each function has its own containers (processes) with its own environment and module state,
warm between invocations and reused one invocation at a time; concurrent invocations of one function start
more containers, and invocations of different functions never wait for each other. A function's reserved
concurrency, if configured, caps its containers: an invocation past the cap waits for one to be free (Lambda
would throttle it; waiting keeps Step Functions' retries out of local runs). A timed-out invocation's
container is killed. The `Handler` (`package.module.function`) is imported from this Python environment;
the zip moto stores is never unpacked. Each container runs as its function's execution role, as in Lambda:
temporary credentials of an AssumeRole on that role with the function's name as the session name, so
`sts:GetCallerIdentity` in a handler answers `assumed-role/<role>/<function>` (moto enforces no IAM policy).

Containers are forked from a fork server that has the heavy libraries imported once (a cold start costs
milliseconds), and they skip multiprocessing's import of the main module (a script, `python -m bench...`):
they run `lambda_worker.serve` only, which needs nothing from it. Injected faults and holds
(`lambda_faults`) are applied here, in front of the containers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import multiprocessing.spawn
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from kops_local.aws.lambda_faults import LambdaFault, LambdaFaultPlan
from kops_local.aws.process_env import host_environment
from kops_local.lambda_worker import Invocation, Outcome, error_document, serve

LogSink = Callable[[Sequence[str]], None]
_LOG = logging.getLogger(__name__)

# Imported once by the fork server, so containers start with them loaded: the libraries our handlers use and
# our models (pydantic builds their schemas on import). Never a module that creates a Powertools logger,
# tracer or metrics (kops_lambda.observability and its importers): those read the function's environment and
# bind the output streams when created, so they must be created inside a container.
_PRELOAD = [
    "kops_local.lambda_worker",
    "boto3",
    "botocore.session",
    "pydantic",
    "kubernetes.client",
    "yaml",
    "aws_xray_sdk.core",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.typing",
    "kops_lambda.models.cluster",
    "kops_lambda.models.credentials",
    "kops_lambda.models.events",
    "kops_lambda.models.onboarding",
    "kops_lambda.models.registry",
    "kops_lambda.models.rollback",
    "kops_lambda.models.steps",
]
_STOP_SECONDS = 5.0


@dataclass(frozen=True)
class InvocationResult:
    payload: str
    """The response document as JSON text (the handler's return value, or the AWS error shape)."""
    errored: bool
    logs: str
    request_id: str


_starting = threading.local()
_preparation_data = multiprocessing.spawn.get_preparation_data


def _preparation_data_of_a_container(name: str) -> dict[str, Any]:
    """What a new process imports before its target: without the main module when it is a container's."""
    data: dict[str, Any] = _preparation_data(name)
    if getattr(_starting, "container", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


def _fork_context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    multiprocessing.spawn.get_preparation_data = _preparation_data_of_a_container  # only for this thread's starts
    return context


class _Container:
    """One worker process running one function's handler."""

    def __init__(self, context: Any, function: LambdaFunction, environment: dict[str, str], log_stream: str) -> None:
        self.log_stream = log_stream
        self.log_stream_created = False
        self.exited = False
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(child_end, environment, str(function.handler)),
            name=f"lambda-{function.function_name}",
            daemon=True,
        )
        _starting.container = True
        try:
            self.process.start()
        finally:
            _starting.container = False
        child_end.close()

    def run(self, invocation: Invocation, timeout: float) -> Outcome | None:
        """The outcome, or None if the handler did not finish in time (the container is then unusable)."""
        connection: Connection = self.connection
        connection.send(invocation)
        if not connection.poll(timeout):
            return None
        try:
            outcome: Outcome = connection.recv()
        except EOFError:  # the handler ended the process (os._exit, a crash)
            self.exited = True
            self.process.join(_STOP_SECONDS)
            message = f"exit status {self.process.exitcode}"
            return Outcome(error_document("Runtime.ExitError", message, []), True, "")
        return outcome

    def destroy(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_STOP_SECONDS)


class _FunctionContainers:
    """The containers of one function configuration: idle ones are reused, at most `limit` exist."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._idle: list[_Container] = []
        self._count = 0
        self._retired = False
        self._changed = threading.Condition()

    def take(self, start: Callable[[], _Container]) -> _Container:
        with self._changed:
            while not self._idle and self._limit is not None and self._count >= self._limit:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return start()
        except BaseException:
            self._forget()
            raise

    def give_back(self, container: _Container) -> None:
        with self._changed:
            if not self._retired:
                self._idle.append(container)
                self._changed.notify()
                return
        self.discard(container)

    def discard(self, container: _Container) -> None:
        container.destroy()
        self._forget()

    def retire(self) -> None:
        """Destroy the idle containers now and the busy ones when they are given back."""
        with self._changed:
            self._retired, idle, self._idle = True, self._idle, []
        for container in idle:
            self.discard(container)

    def _forget(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify()


# Lambda's sandbox credentials last as long as the function may run and are renewed with the sandbox; a
# container here lives for one test run at most.
_CREDENTIALS_SECONDS = 12 * 3600


def _execution_role_credentials(function: LambdaFunction) -> dict[str, str]:
    """The environment variables Lambda gives a sandbox: its execution role's session, named for the function."""
    backend = sts_backends[function.account_id][get_partition(function.region)]
    session = backend.assume_role(
        region_name=function.region,
        role_session_name=function.function_name,
        role_arn=function.role,
        policy="",
        duration=_CREDENTIALS_SECONDS,
        external_id="",
    )
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


class LocalLambdaRuntime:
    """Executes moto `LambdaFunction`s with the real handler code in per-function worker processes."""

    def __init__(self, *, endpoint_url: str, log_sink: LogSink, async_workers: int = 4) -> None:
        self._endpoint_url = endpoint_url
        self._log_sink = log_sink
        self._context = _fork_context()
        self._functions_lock = threading.Lock()
        self._functions: dict[str, tuple[str, _FunctionContainers]] = {}
        self._executor = ThreadPoolExecutor(max_workers=async_workers, thread_name_prefix="local-lambda-async")
        self._pending_lock = threading.Lock()
        self._pending_async = 0
        # Test control: named failures injected before or after a handler, and holds (see lambda_faults).
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
        containers = self._containers(function)
        container = containers.take(lambda: self._start_container(function))
        invocation = Invocation(
            event=event,
            function_name=function.function_name,
            function_version=str(function.version),
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size or 128),
            aws_request_id=request_id,
            log_group_name=function.logs_group_name,
            log_stream_name=container.log_stream,
            timeout_seconds=timeout,
        )
        clock = time.monotonic()
        try:
            outcome = container.run(invocation, timeout)
        except BaseException:
            containers.discard(container)
            raise
        duration_ms = (time.monotonic() - clock) * 1000
        if outcome is None or container.exited:
            # Lambda stops the sandbox of a timed-out invocation; its module state goes with it.
            containers.discard(container)
        if outcome is None:
            message = f"Task timed out after {timeout:.2f} seconds"
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            outcome = Outcome(error_document("Sandbox.Timedout", message, []), True, f"{now} {request_id} {message}\n")
        elif not container.exited:
            containers.give_back(container)
        lines = [
            f"START RequestId: {request_id} Version: {function.version}",
            *outcome.log_text.splitlines(),
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {invocation.memory_limit_in_mb} MB",
        ]
        self._publish_logs(function, container, lines)
        return InvocationResult(
            payload=outcome.payload, errored=outcome.errored, logs="\n".join(lines), request_id=request_id
        )

    def _containers(self, function: LambdaFunction) -> _FunctionContainers:
        """The function's containers; a changed configuration (handler, environment, limits) gets new ones."""
        configuration = json.dumps(
            [
                function.handler,
                function.environment_vars,
                function.timeout,
                function.reserved_concurrency,
                function.role,
            ],
            sort_keys=True,
            default=str,
        )
        fingerprint = hashlib.sha256(configuration.encode()).hexdigest()
        with self._functions_lock:
            current = self._functions.get(function.function_arn)
            if current is not None and current[0] == fingerprint:
                return current[1]
            limit = function.reserved_concurrency
            containers = _FunctionContainers(int(limit) if limit is not None else None)
            self._functions[function.function_arn] = (fingerprint, containers)
        if current is not None:
            current[1].retire()
        return containers

    def _start_container(self, function: LambdaFunction) -> _Container:
        log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{function.version}]{uuid.uuid4().hex}"
        return _Container(self._context, function, self._environment_for(function, log_stream), log_stream)

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
        with self._functions_lock:
            functions, self._functions = list(self._functions.values()), {}
        for _, containers in functions:
            containers.retire()

    def _environment_for(self, function: LambdaFunction, log_stream: str) -> dict[str, str]:
        # No X-Ray daemon locally: Powertools' Tracer would otherwise try to emit segments.
        defaults = {"POWERTOOLS_TRACE_DISABLED": "true"}
        configured = {str(key): str(value) for key, value in (function.environment_vars or {}).items()}
        reserved = {
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ENDPOINT_URL": self._endpoint_url,
            **_execution_role_credentials(function),
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size or 128),
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "_HANDLER": str(function.handler),
        }
        return {**host_environment(os.environ), **defaults, **configured, **reserved}

    def _publish_logs(self, function: LambdaFunction, container: _Container, lines: list[str]) -> None:
        self._log_sink(lines)
        # Mirror to moto's CloudWatch Logs so `logs filter-log-events` works against the local endpoint.
        now_ms = int(time.time() * 1000)
        backend = function.logs_backend
        if not container.log_stream_created:  # one stream per container, as in Lambda
            backend.ensure_log_group(function.logs_group_name)
            backend.create_log_stream(function.logs_group_name, container.log_stream)
            container.log_stream_created = True
        events = [{"timestamp": now_ms, "message": line} for line in lines]
        backend.put_log_events(function.logs_group_name, container.log_stream, events)
