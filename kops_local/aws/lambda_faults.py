"""Injected Lambda failures: the next N invocations of a matching function fail with a named error, the
way a raised exception of that class would (errorType = the name, which Step Functions' Retry and Catch
match). Before the handler (it never runs: the step did nothing) or after it (its changes stay and its
result is lost: a crash or timeout after the work was done).

    aws.inject_lambda_fault("CreateKeyPairFunction", error_type="AwsThrottled", times=2)
    aws.inject_lambda_fault("InstallAgentFunction", error_type="Sandbox.Timedout", after_handler=True)
    aws.inject_lambda_fault("CleanupIamEntities", error_type="AccessDenied", event_matches={"action": "rollback"})

A hold keeps the next invocation of a matching function waiting before its handler until the test releases
it (a slow step, without a timed sleep): `with aws.hold_lambda("MapIdentityFunction") as hold:
hold.reached.wait(...)`, then whatever must happen meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INJECTED_MESSAGE = "injected fault"


@dataclass
class LambdaFault:
    function_name_contains: str
    error_type: str
    message: str
    remaining: int
    after_handler: bool = False
    event_matches: Mapping[str, Any] | None = None  # top-level keys of the event that must be equal

    def matches(self, function_name: str, event: Any) -> bool:
        if self.function_name_contains not in function_name:
            return False
        if self.event_matches is None:
            return True
        return isinstance(event, dict) and all(event.get(k) == v for k, v in self.event_matches.items())


# A hold never released (a test that failed meanwhile) lets its invocation go on after this long.
HOLD_LIMIT_SECONDS = 60.0


@dataclass
class LambdaHold:
    function_name_contains: str
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait_for_release(self) -> None:
        self.reached.set()
        self.released.wait(timeout=HOLD_LIMIT_SECONDS)


class LambdaFaultPlan:
    """Pending faults, consumed first-added first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[LambdaFault] = []
        self._holds: list[LambdaHold] = []

    def add(self, fault: LambdaFault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one invocation")
        with self._lock:
            self._faults.append(fault)

    def take(self, function_name: str, event: Any) -> LambdaFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(function_name, event):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def hold(self, hold: LambdaHold) -> None:
        with self._lock:
            self._holds.append(hold)

    def take_hold(self, function_name: str) -> LambdaHold | None:
        with self._lock:
            for hold in self._holds:
                if hold.function_name_contains in function_name:
                    self._holds.remove(hold)
                    return hold
        return None

    def pending(self) -> list[LambdaFault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            for hold in self._holds:
                hold.released.set()
            self._holds.clear()
