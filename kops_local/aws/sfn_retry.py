"""Scale the waits between Step Functions Retry attempts in moto's ASL interpreter.

moto's `RetrierDecl._eval_body` computes IntervalSeconds x BackoffRate^n (capped by MaxDelaySeconds, then
jittered when JitterStrategy is FULL) and calls `time.sleep` on it through its module's `time` name. We
replace that name with an object whose `sleep` multiplies by a factor, so the retry *logic* stays moto's and
only the wall-clock wait shrinks. The factor is process-global (moto's interpreter has no per-execution
hook): it applies to every execution in this process while the patch is applied. Wait states are not
scaled (they wait on an event, not on `time.sleep`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from kops_local.aws.patching import AttributePatch


class _ScaledTime:
    """Stands in for the `time` module inside moto's retrier module; only `sleep` differs."""

    def __init__(self, scale: float) -> None:
        self._lock = threading.Lock()
        self._scale = scale

    @property
    def scale(self) -> float:
        with self._lock:
            return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"retry interval scale must be >= 0, got {value}")
        with self._lock:
            self._scale = value

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds * self.scale))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_SCALED_TIME = _ScaledTime(1.0)


def retry_sleep_patch() -> AttributePatch:
    """The patch that routes retry waits through the scaled clock."""
    return AttributePatch(retrier_decl, "time", _SCALED_TIME)


def set_retry_interval_scale(scale: float) -> None:
    _SCALED_TIME.scale = scale


def get_retry_interval_scale() -> float:
    return _SCALED_TIME.scale
