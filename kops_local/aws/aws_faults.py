"""Injected AWS API errors (throttling, one action refused), answered by the local endpoint in each service's own
error shape, and a record of the calls made (the order of a rotation's steps).

    with aws.aws_throttling(services=("iam", "secretsmanager"), every=3):
        ...  # every third call to IAM or Secrets Manager answers Throttling, until the block exits
    with aws.aws_failure("secretsmanager:PutSecretValue", code="AccessDeniedException"):
        ...  # every PutSecretValue is refused with that code, until the block exits
    with aws.aws_calls(services=("iam", "secretsmanager")) as calls:
        ...  # calls.made lists `service:Action` of every call to them, in the order they were answered

The error is raised where moto runs the action (as a `ServiceException`, which moto serializes for the
service's protocol), so SDK clients see what AWS sends: their own retries, then our AwsThrottled.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores

from kops_local.aws.patching import AttributePatch

# The throttling code each service answers with (what botocore's retry logic and our adapters match).
_THROTTLING_CODES = {"iam": "Throttling", "secretsmanager": "ThrottlingException", "ec2": "RequestLimitExceeded"}


class _Throttled(ServiceException):
    message = "Rate exceeded"


class _Refused(ServiceException):
    message = "injected fault"


@dataclass
class AwsThrottling:
    services: Sequence[str]
    every: int
    calls: int = 0
    answered: list[str] = field(default_factory=list)
    """`service:Action` of every call answered with a throttling error."""


@dataclass
class AwsFailure:
    action: str  # `service:Action`
    code: str
    answered: int = 0


@dataclass
class AwsCalls:
    services: Sequence[str]
    made: list[str] = field(default_factory=list)


class AwsFaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[AwsThrottling] = []
        self._failures: list[AwsFailure] = []
        self._recordings: list[AwsCalls] = []

    def add_failure(self, failure: AwsFailure) -> None:
        with self._lock:
            self._failures.append(failure)

    def remove_failure(self, failure: AwsFailure) -> None:
        with self._lock:
            self._failures.remove(failure)

    def add_recording(self, calls: AwsCalls) -> None:
        with self._lock:
            self._recordings.append(calls)

    def remove_recording(self, calls: AwsCalls) -> None:
        with self._lock:
            self._recordings.remove(calls)

    def record(self, service: str, action: str) -> None:
        with self._lock:
            for calls in self._recordings:
                if service in calls.services:
                    calls.made.append(f"{service}:{action}")

    def failure_code(self, service: str, action: str) -> str | None:
        """The error code a call of `service:action` is answered with, or None."""
        with self._lock:
            for failure in self._failures:
                if failure.action == f"{service}:{action}":
                    failure.answered += 1
                    return failure.code
        return None

    def add(self, throttling: AwsThrottling) -> None:
        if throttling.every < 1:
            raise ValueError("every must be at least 1")
        with self._lock:
            self._active.append(throttling)

    def remove(self, throttling: AwsThrottling) -> None:
        with self._lock:
            self._active.remove(throttling)

    def throttles(self, service: str, action: str) -> bool:
        with self._lock:
            for throttling in self._active:
                if service in throttling.services:
                    throttling.calls += 1
                    if throttling.calls % throttling.every == 0:
                        throttling.answered.append(f"{service}:{action}")
                        return True
        return False


def aws_fault_patch(plan: AwsFaultPlan) -> AttributePatch:
    """Patch for `moto.core.responses.BaseResponse.call_action`."""
    moto_call_action = vars(BaseResponse)["call_action"]
    # moto warns that the code is not in the service's error shapes (throttling errors never are).
    warnings.filterwarnings("ignore", message=r"Exception\(_(Throttled|Refused)\)", category=UserWarning)

    def call_action(self: BaseResponse) -> Any:
        service, action = str(self.service_name), self._get_action()
        plan.record(service, action)
        refused = plan.failure_code(service, action)
        if refused is not None:

            def fail() -> None:
                raise _Refused(refused, "injected fault")

            setattr(self, camelcase_to_underscores(action), fail)  # this response object only
        elif service in _THROTTLING_CODES and plan.throttles(service, action):
            code = _THROTTLING_CODES[service]

            def throttled() -> None:
                raise _Throttled(code, "Rate exceeded")

            setattr(self, camelcase_to_underscores(action), throttled)  # this response object only
        return moto_call_action(self)

    return AttributePatch(BaseResponse, "call_action", call_action)
