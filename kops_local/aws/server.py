"""`LocalAws`: moto's server on a background thread, with Lambdas, EventBridge and SQS mappings that run.

moto keeps its state in process-global backends and its behaviour in global settings, so one `LocalAws`
may run per process at a time, and not alongside an active `mock_aws`. `start()` resets moto's backends
(a fresh account every time) and installs the patches; `stop()` removes them and restores the settings.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.client import BaseClient
from moto.core.base_backend import BackendDict
from moto.core.config import default_user_config
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from kops_local.aws.aws_faults import AwsCalls, AwsFailure, AwsFaultPlan, AwsThrottling, aws_fault_patch
from kops_local.aws.dynamodb_atomic import atomic_write_patches
from kops_local.aws.endpoint import local_client
from kops_local.aws.events_delivery import events_delivery_patch, fire_scheduled_rule
from kops_local.aws.lambda_faults import INJECTED_MESSAGE, LambdaFault, LambdaHold
from kops_local.aws.lambda_runtime import LocalLambdaRuntime
from kops_local.aws.lifecycle_actions import LifecycleActions, lifecycle_action_patches
from kops_local.aws.moto_lambda import lambda_patches
from kops_local.aws.patching import PatchSet
from kops_local.aws.sfn_events import sfn_status_event_patches
from kops_local.aws.sfn_retry import (
    get_retry_interval_scale,
    retry_sleep_patch,
    set_retry_interval_scale,
)
from kops_local.aws.sfn_timeouts import sfn_timeout_patches
from kops_local.aws.sqs_poller import SqsEventSourcePoller, detach_mapping_patch
from kops_local.aws.sts_presigned import sts_presigned_patches

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.client import AutoScalingClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_stepfunctions.client import SFNClient
    from mypy_boto3_sts.client import STSClient

_POLL_INTERVAL = 0.05
_SFN_INTERPRETER = "moto.stepfunctions.parser.models"
_ENV_KEYS = ("MOTO_IAM_LOAD_MANAGED_POLICIES", "MOTO_PORT")


class LocalAws:
    """An AWS endpoint on localhost backed by moto, able to run this project's Lambda handlers (in local containers)."""

    account_id: str = DEFAULT_ACCOUNT_ID
    _active_lock = threading.Lock()
    _active: LocalAws | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        retry_interval_scale: float = 1.0,
    ) -> None:
        if retry_interval_scale < 0:
            raise ValueError("retry_interval_scale must be >= 0")
        self._host = host
        self._port = port
        self._region = region
        self._retry_interval_scale = retry_interval_scale
        self._endpoint_url: str | None = None
        self._server: ThreadedMotoServer | None = None
        self._runtime: LocalLambdaRuntime | None = None
        self._aws_faults = AwsFaultPlan()
        self._poller: SqsEventSourcePoller | None = None
        self._patches: PatchSet | None = None
        # Auto Scaling's termination lifecycle actions (moto has hooks only): begin one with `begin`.
        self.lifecycle_actions = LifecycleActions()
        self._saved_env: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] = {}
        self._saved_scale = 1.0
        self._saved_werkzeug_level: int | None = None
        self._logs_lock = threading.Lock()
        self._captured_logs: list[str] = []
        self._session_lock = threading.Lock()
        self._session = boto3.session.Session()
        self._clients: dict[tuple[str, str, str], Any] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------

    @classmethod
    def running(cls) -> LocalAws | None:
        """The instance started in this process, if any (fixtures can share it instead of failing)."""
        with cls._active_lock:
            return cls._active

    def start(self) -> str:
        """Start the server and install the local behaviours; returns the endpoint URL."""
        if self._endpoint_url is not None:
            return self._endpoint_url
        with LocalAws._active_lock:
            if LocalAws._active is not None:
                raise RuntimeError("another LocalAws is running in this process (moto's state is global)")
            LocalAws._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        assert self._endpoint_url is not None
        return self._endpoint_url

    def _start(self) -> None:
        self._saved_env = {key: os.environ.get(key) for key in _ENV_KEYS}
        # Read when moto builds an IAM backend: must be set before the reset below rebuilds them.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self._saved_config = {key: default_user_config.get(key) for key in ("stepfunctions", "lambda")}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        # The Docker-backed Lambda backend is the one whose invocation we replace (not moto's canned one).
        default_user_config["lambda"] = {"use_docker": True}
        BackendDict.reset()
        self._quiet_request_log()
        # moto's ASL interpreter takes ~1.3 s to import; do it now, off the caller's path, instead of on the
        # first CreateStateMachine (a request arriving earlier just waits on the import lock).
        threading.Thread(target=importlib.import_module, args=(_SFN_INTERPRETER,), daemon=True).start()

        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        self._server = server
        _, port = server.get_host_and_port()
        # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        url_host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        endpoint_url = f"http://{url_host}:{port}"

        runtime = LocalLambdaRuntime(endpoint_url=endpoint_url, log_sink=self._append_logs)
        self._runtime = runtime
        self._saved_scale = get_retry_interval_scale()
        set_retry_interval_scale(self._retry_interval_scale)
        self._patches = PatchSet(
            [
                *lambda_patches(runtime),
                events_delivery_patch(runtime),
                detach_mapping_patch(),
                retry_sleep_patch(),
                *sfn_status_event_patches(),
                *sfn_timeout_patches(),
                aws_fault_patch(self._aws_faults),
                *sts_presigned_patches(),
                *atomic_write_patches(),
                *lifecycle_action_patches(self.lifecycle_actions),
            ]
        )
        self._patches.apply()
        self._poller = SqsEventSourcePoller(endpoint_url=endpoint_url, runtime=runtime, poll_interval=_POLL_INTERVAL)
        self._poller.start()
        self._endpoint_url = endpoint_url

    def stop(self) -> None:
        """Stop pollers and server, remove the patches, restore moto's settings. Safe to call twice."""
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runtime is not None:
            self._runtime.shutdown()
            self._runtime = None
        if self._patches is not None:
            self._patches.restore()
            self._patches = None
            set_retry_interval_scale(self._saved_scale)
        self._restore_settings()
        self._clients.clear()
        self._endpoint_url = None
        with LocalAws._active_lock:
            if LocalAws._active is self:
                LocalAws._active = None

    def _restore_settings(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        for key, config in self._saved_config.items():
            default_user_config[key] = config  # type: ignore[literal-required]
        self._saved_config = {}
        if self._saved_werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._saved_werkzeug_level)
            self._saved_werkzeug_level = None

    def _quiet_request_log(self) -> None:
        # One access-log line per request (the pollers make many) drowns the demo's output.
        werkzeug_logger = logging.getLogger("werkzeug")
        self._saved_werkzeug_level = werkzeug_logger.level
        if werkzeug_logger.level == logging.NOTSET:
            werkzeug_logger.setLevel(logging.WARNING)

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- properties -----------------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("LocalAws is not started")
        return self._endpoint_url

    @property
    def region(self) -> str:
        return self._region

    @property
    def retry_interval_scale(self) -> float:
        return self._retry_interval_scale

    @retry_interval_scale.setter
    def retry_interval_scale(self, scale: float) -> None:
        """Change the Step Functions retry-wait factor (process-global) while running."""
        if scale < 0:
            raise ValueError("retry_interval_scale must be >= 0")
        self._retry_interval_scale = scale
        if self._patches is not None:
            set_retry_interval_scale(scale)

    @property
    def captured_logs(self) -> list[str]:
        """Every log line of every invocation so far (START/END/REPORT included); a copy."""
        with self._logs_lock:
            return list(self._captured_logs)

    def _append_logs(self, lines: Sequence[str]) -> None:
        with self._logs_lock:
            self._captured_logs.extend(lines)

    # -- clients -------------------------------------------------------------------------------------------

    @overload
    def client(self, service_name: Literal["autoscaling"], region: str | None = None) -> AutoScalingClient: ...
    @overload
    def client(self, service_name: Literal["dynamodb"], region: str | None = None) -> DynamoDBClient: ...
    @overload
    def client(self, service_name: Literal["ec2"], region: str | None = None) -> EC2Client: ...
    @overload
    def client(self, service_name: Literal["events"], region: str | None = None) -> EventBridgeClient: ...
    @overload
    def client(self, service_name: Literal["iam"], region: str | None = None) -> IAMClient: ...
    @overload
    def client(self, service_name: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
    @overload
    def client(self, service_name: Literal["s3"], region: str | None = None) -> S3Client: ...
    @overload
    def client(self, service_name: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...
    @overload
    def client(self, service_name: Literal["sqs"], region: str | None = None) -> SQSClient: ...
    @overload
    def client(self, service_name: Literal["stepfunctions"], region: str | None = None) -> SFNClient: ...
    @overload
    def client(self, service_name: Literal["sts"], region: str | None = None) -> STSClient: ...
    @overload
    def client(self, service_name: str, region: str | None = None) -> BaseClient: ...

    def client(self, service_name: str, region: str | None = None) -> Any:
        """A botocore client for the local endpoint, with dummy credentials and `region` (default: this
        instance's region).

        Clients are cached per service and region for this run (botocore clients are thread-safe; creating one
        costs tens of milliseconds).
        """
        endpoint_url = self.endpoint_url
        region = region or self._region
        with self._session_lock:  # boto3 sessions are not thread-safe while creating clients
            key = (service_name, endpoint_url, region)
            if key not in self._clients:
                self._clients[key] = local_client(
                    service_name, endpoint_url=endpoint_url, region=region, session=self._session
                )
            return self._clients[key]

    # -- fault injection -----------------------------------------------------------------------------------

    def inject_lambda_fault(
        self,
        function_name_contains: str,
        *,
        error_type: str,
        message: str = INJECTED_MESSAGE,
        times: int = 1,
        after_handler: bool = False,
        event_matches: Mapping[str, Any] | None = None,
    ) -> None:
        """The next `times` invocations of a function whose name contains `function_name_contains` (and
        whose event has the `event_matches` top-level values) fail with `error_type` as their errorType,
        like a raised exception of that class. `after_handler`: the handler runs first and its changes
        stay; only its result is replaced by the error (a crash after the work was done)."""
        if self._runtime is None:
            raise RuntimeError("LocalAws is not started")
        fault = LambdaFault(function_name_contains, error_type, message, times, after_handler, event_matches)
        self._runtime.faults.add(fault)

    @contextmanager
    def aws_throttling(self, *, services: Sequence[str], every: int) -> Iterator[AwsThrottling]:
        """Every `every`-th call to one of `services` (iam, secretsmanager, ec2) answers that service's
        throttling error until the block exits; the yielded object lists the calls it throttled."""
        throttling = AwsThrottling(services=tuple(services), every=every)
        self._aws_faults.add(throttling)
        try:
            yield throttling
        finally:
            self._aws_faults.remove(throttling)

    @contextmanager
    def aws_failure(self, action: str, *, code: str) -> Iterator[AwsFailure]:
        """Every call of `action` (`service:Action`, e.g. `secretsmanager:PutSecretValue`) is answered with the
        error `code` (HTTP 400) until the block exits; the yielded object counts them."""
        failure = AwsFailure(action=action, code=code)
        self._aws_faults.add_failure(failure)
        try:
            yield failure
        finally:
            self._aws_faults.remove_failure(failure)

    @contextmanager
    def aws_calls(self, *, services: Sequence[str]) -> Iterator[AwsCalls]:
        """Records `service:Action` of every call to `services` while the block runs, in the order answered."""
        calls = AwsCalls(services=tuple(services))
        self._aws_faults.add_recording(calls)
        try:
            yield calls
        finally:
            self._aws_faults.remove_recording(calls)

    @contextmanager
    def hold_lambda(self, function_name_contains: str) -> Iterator[LambdaHold]:
        """The next invocation of a matching function waits before its handler until the block exits."""
        if self._runtime is None:
            raise RuntimeError("LocalAws is not started")
        hold = LambdaHold(function_name_contains)
        self._runtime.faults.hold(hold)
        try:
            yield hold
        finally:
            hold.released.set()

    def pending_lambda_faults(self) -> list[LambdaFault]:
        return self._runtime.faults.pending() if self._runtime is not None else []

    def clear_lambda_faults(self) -> None:
        if self._runtime is not None:
            self._runtime.faults.clear()

    def fire_scheduled_rule(self, rule_name: str) -> str:
        """Run a scheduled rule now, as EventBridge does when its time comes (moto never runs schedules):
        each target gets a `Scheduled Event`, Lambda targets asynchronously (`drain_event_sources` waits for
        them). Returns the event's id."""
        if self._runtime is None:
            raise RuntimeError("LocalAws is not started")
        return fire_scheduled_rule(self._runtime, account=self.account_id, region=self._region, name=rule_name)

    # -- waiting -------------------------------------------------------------------------------------------

    def drain_event_sources(self, timeout: float = 30.0) -> None:
        """Block until async invocations finished and every mapped queue is empty, or raise TimeoutError.

        Messages a handler failed stay in flight until their visibility timeout, then are retried or moved
        to the DLQ by the redrive policy, so a drain also waits for that. Idle must be seen twice in a row.
        """
        if self._runtime is None or self._poller is None:
            raise RuntimeError("LocalAws is not started")
        deadline = time.monotonic() + timeout
        idle_checks = 0
        while True:
            idle = self._runtime.pending_async == 0 and self._poller.is_idle()
            idle_checks = idle_checks + 1 if idle else 0
            if idle_checks >= 2:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"event sources still busy after {timeout} s")
            time.sleep(_POLL_INTERVAL)
