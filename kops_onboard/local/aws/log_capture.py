"""Capture what one handler thread prints or logs, while other threads keep writing where they did.

A Lambda's CloudWatch stream holds its stdout, stderr and log records. In-process, those streams are shared
with moto's server threads and the test runner, so capture is keyed by thread: only writes made on a thread
attached to a `capturing()` block are diverted.

- stdout/stderr: `sys.stdout`/`sys.stderr` are swapped for thread-routing proxies during the invocation.
  Handlers created during it (Powertools' Logger binds `sys.stdout` when constructed, e.g. on first import
  inside the runtime) keep a proxy; proxies consult the global registry, so they keep routing correctly later.
- logging: a thread-filtered handler is attached to the root logger and to every non-propagating logger
  (Powertools' logger does not propagate). Records that would already reach a proxied stream are skipped so
  nothing is captured twice; the others are formatted with the formatter of the handler that prints them.

Threads the handler starts itself are not captured.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

_registry_lock = threading.Lock()
_registry: dict[int, io.StringIO] = {}
_DEFAULT_FORMAT = logging.Formatter("[%(levelname)s] %(name)s: %(message)s")


def _buffer_for_current_thread() -> io.StringIO | None:
    with _registry_lock:
        return _registry.get(threading.get_ident())


class ThreadRoutingStream:
    """A text stream that diverts writes from captured threads and passes the rest to `fallback`."""

    def __init__(self, fallback: TextIO) -> None:
        self.fallback = fallback

    def write(self, text: str) -> int:
        buffer = _buffer_for_current_thread()
        if buffer is not None:
            return buffer.write(text)
        return self.fallback.write(text)

    def flush(self) -> None:
        if _buffer_for_current_thread() is None:
            self.fallback.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fallback, name)


def _reaches_proxy(logger: logging.Logger | None, levelno: int, ours: logging.Handler) -> bool:
    while logger is not None:
        for handler in logger.handlers:
            if handler is ours or not isinstance(handler, logging.StreamHandler):
                continue
            if isinstance(handler.stream, ThreadRoutingStream) and levelno >= handler.level:
                return True
        logger = logger.parent if logger.propagate else None
    return False


def _formatter_for(logger: logging.Logger | None, ours: logging.Handler) -> logging.Formatter:
    while logger is not None:
        for handler in logger.handlers:
            if handler is not ours and handler.formatter is not None:
                return handler.formatter
        logger = logger.parent if logger.propagate else None
    return _DEFAULT_FORMAT


class _CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        with _registry_lock:
            buffer = _registry.get(record.thread or 0)
        if buffer is None:
            return
        logger = logging.getLogger(record.name)
        if _reaches_proxy(logger, record.levelno, self):
            return
        try:
            buffer.write(_formatter_for(logger, self).format(record) + "\n")
        except Exception:  # a broken formatter must not fail the invocation
            self.handleError(record)


def _non_propagating_loggers() -> list[logging.Logger]:
    loggers = list(logging.Logger.manager.loggerDict.values())
    return [logger for logger in loggers if isinstance(logger, logging.Logger) and not logger.propagate]


@contextmanager
def _proxied_std_streams() -> Iterator[None]:
    previous_out, previous_err = sys.stdout, sys.stderr
    proxy_out = ThreadRoutingStream(previous_out)
    proxy_err = ThreadRoutingStream(previous_err)
    sys.stdout, sys.stderr = cast(TextIO, proxy_out), cast(TextIO, proxy_err)
    try:
        yield
    finally:
        # Only undo our own swap: someone else (pytest) may have replaced the streams meanwhile.
        if sys.stdout is cast(TextIO, proxy_out):
            sys.stdout = previous_out
        if sys.stderr is cast(TextIO, proxy_err):
            sys.stderr = previous_err


class Capture:
    """One invocation's captured text; threads join it with `attach_current_thread()`."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._threads: list[int] = []

    def attach_current_thread(self) -> None:
        ident = threading.get_ident()
        with _registry_lock:
            _registry[ident] = self.buffer
            self._threads.append(ident)

    def detach_all(self) -> None:
        with _registry_lock:
            for ident in self._threads:
                if _registry.get(ident) is self.buffer:
                    del _registry[ident]

    def text(self) -> str:
        return self.buffer.getvalue()


@contextmanager
def capturing() -> Iterator[Capture]:
    """Divert the output of threads attached to the yielded `Capture` until the block exits.

    Callers serialize blocks (the standard streams and logger handler lists are process-global). A thread
    still running after the block (a timed-out handler) writes to the original streams again.
    """
    capture = Capture()
    handler = _CaptureHandler()
    targets = [logging.getLogger(), *_non_propagating_loggers()]
    for logger in targets:
        logger.addHandler(handler)
    try:
        with _proxied_std_streams():
            yield capture
    finally:
        capture.detach_all()
        for logger in targets:
            logger.removeHandler(handler)
