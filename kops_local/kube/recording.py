"""What the emulator was asked: a thread-safe journal of requests, for assertions and hooks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str  # URL-decoded, without the query
    query: dict[str, str]
    content_type: str | None  # media type without parameters
    body: Any  # parsed JSON, or None (no body, or not JSON)
    status: int | None = None  # set once answered
    # The connection was reset instead of answering (an injected fault); status is then what the server
    # would have answered had it processed the request first, else None.
    reset: bool = False

    @property
    def grace_period_seconds(self) -> int | None:
        """DeleteOptions.gracePeriodSeconds from the query or the body (a DELETE's or an Eviction's)."""
        if "gracePeriodSeconds" in self.query:
            return int(self.query["gracePeriodSeconds"])
        body = self.body if isinstance(self.body, dict) else {}
        options = body.get("deleteOptions", body)
        value = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
        return int(value) if value is not None else None


class RequestJournal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def append(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
