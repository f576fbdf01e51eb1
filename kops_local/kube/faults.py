"""Injected failures: the next N matching requests get an error before the API touches any state,
to exercise clients' retry and error handling (throttling, 5xx, slow answers, connection resets); a reset
may also come after the request was processed (the answer lost, the change made)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from kops_local.kube.errors import REASONS, api_error, status_body

# What the real server (or its priority-and-fairness filter) says for these codes.
_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within requested timeout",
}


@dataclass
class Fault:
    method: str  # upper case, or "*" for any
    path_pattern: re.Pattern[str]  # searched in the URL-decoded path
    status: int | None  # None: the connection is reset (TCP RST), no HTTP response at all
    remaining: int
    body: dict[str, Any] | None = None
    delay: float = 0.0  # seconds to wait before answering (client timeouts)
    # A reset after the request was processed: its changes stay, only the answer is lost.
    after_processing: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and self.path_pattern.search(path) is not None

    def response_body(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        if self.status is None:
            raise ValueError("a connection reset has no response body")
        message = _MESSAGES.get(self.status, f"injected fault ({self.status} {REASONS.get(self.status, '')})")
        # In the body only: a Retry-After header makes urllib3 (under the official client) retry 429/503
        # by itself, so the client's own retry logic would never see the fault.
        details = {"retryAfterSeconds": 1} if self.status == 429 else None
        return status_body(api_error(self.status, message, details=details))


class FaultPlan:
    """Pending faults, consumed first-added first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one request")
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
