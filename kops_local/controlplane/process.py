"""One control-plane component as a child process: started, waited for, stopped, and explained when it fails."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kops_local.controlplane.binaries import ControlPlaneUnavailable

_POLL_SECONDS = 0.1
_STOP_SECONDS = 10.0
_LOG_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGTERM when our process dies, even by SIGKILL, so no
    apiserver or etcd outlives the test run or CLI that started it."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Component:
    def __init__(self, name: str, argv: Sequence[str | Path], *, log_dir: Path) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, env: Mapping[str, str] | None = None) -> None:
        """`env`: the child's whole environment (default: ours)."""
        with self.log_path.open("wb") as log:
            # Its own session: a Ctrl-C meant for the CLI must not kill the control plane before cleanup.
            self._process = subprocess.Popen(  # noqa: S603 (argv built from our own binaries and flags)
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (only prctl, async-signal-safe)
            )

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll `ready` until it says yes; fail naming this component, why and its last log lines."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            code = self._process.poll() if self._process else None
            if code is not None:
                raise ControlPlaneUnavailable(f"{self.name} exited with code {code} before {what}:\n{self.log_tail()}")
            try:
                if ready():
                    return
            except Exception as exc:
                last_error = f" (last probe: {exc})"
            time.sleep(_POLL_SECONDS)
        raise ControlPlaneUnavailable(f"{self.name}: not {what} after {timeout:.0f} s{last_error}:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM, then SIGKILL after 10 s; `graceful=False`: SIGKILL at once (for a process that holds no
        state and ignores its first SIGTERM)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if not graceful:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
