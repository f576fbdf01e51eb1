"""Injected AWS API errors (throttling), answered by the local endpoint in each service's own error shape.

    with aws.aws_throttling(services=("iam", "secretsmanager"), every=3):
        ...  # every third call to IAM or Secrets Manager answers Throttling, until the block exits

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


@dataclass
class AwsThrottling:
    services: Sequence[str]
    every: int
    calls: int = 0
    answered: list[str] = field(default_factory=list)
    """`service:Action` of every call answered with a throttling error."""


class AwsFaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[AwsThrottling] = []

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
    warnings.filterwarnings("ignore", message=r"Exception\(_Throttled\)", category=UserWarning)

    def call_action(self: BaseResponse) -> Any:
        service, action = str(self.service_name), self._get_action()
        if service in _THROTTLING_CODES and plan.throttles(service, action):
            code = _THROTTLING_CODES[service]

            def throttled() -> None:
                raise _Throttled(code, "Rate exceeded")

            setattr(self, camelcase_to_underscores(action), throttled)  # this response object only
        return moto_call_action(self)

    return AttributePatch(BaseResponse, "call_action", call_action)
