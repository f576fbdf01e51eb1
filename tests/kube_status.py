"""The HTTP status a Kubernetes API call ends with, for tests that assert what an identity may do."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes.client.rest import ApiException


def status_of(call: Callable[[], object]) -> int:
    """200 when `call` succeeds, else the status of the ApiException it raises."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200
