"""Apply a Lambda function's environment to this process for one invocation, then undo it exactly."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# Host settings that would make the handler's SDK calls leave the local endpoint or mix in real credentials.
_HOST_KEYS_TO_HIDE = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_HOST_PREFIXES_TO_HIDE = ("AWS_ENDPOINT_URL_",)


@contextmanager
def applied_environment(overlay: Mapping[str, str]) -> Iterator[None]:
    """Set `overlay` (and hide host AWS profile/endpoint overrides) until the block exits.

    The caller must serialize blocks: the environment is process-global. Restoring touches only keys that
    differ from the snapshot (never `os.environ.clear()`), because other threads (moto's Step Functions
    interpreter reads MOTO_PORT) keep reading the environment meanwhile. Keys the handler itself added or
    changed are undone too.
    """
    snapshot = dict(os.environ)
    try:
        for key in list(os.environ):
            if key in _HOST_KEYS_TO_HIDE or key.startswith(_HOST_PREFIXES_TO_HIDE):
                del os.environ[key]
        os.environ.update(overlay)
        yield
    finally:
        for key in [key for key in os.environ if key not in snapshot]:
            del os.environ[key]
        for key, value in snapshot.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
