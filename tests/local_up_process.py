"""`kops-onboard local up` in its own process, as a user starts it, and stopped as a user stops it (Ctrl-C)."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

# A hang guard: how soon it stops is not asserted (a bench figure).
STOP_TIMEOUT_SECONDS = 180


class LocalUp(subprocess.Popen[str]):
    """The process, with its stderr kept in a file (read when it hangs) and faulthandler on, so a hang found
    by `interrupt` shows every thread's stack."""

    stderr_file: IO[str]


def local_up(template_path: Path, *args: str) -> LocalUp:
    command = [str(Path(sys.executable).parent / "kops-onboard"), "local", "up", "--template", str(template_path)]
    stderr_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process; interrupt closes it
    process = LocalUp(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    process.stderr_file = stderr_file
    return process


def interrupt(process: LocalUp) -> int:
    """Ctrl-C, then its exit code; if it does not stop in time, its threads' stacks fail the test."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to stderr
        process.wait(timeout=30)
        process.stderr_file.seek(0)
        tail = process.stderr_file.read()[-20_000:]
        raise AssertionError(
            f"local up did not stop {STOP_TIMEOUT_SECONDS} s after SIGINT; its stderr ends:\n{tail}"
        ) from None
    finally:
        process.stderr_file.close()
