"""Translate botocore errors into our typed errors."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError

from kops_lambda.errors import AwsThrottled, KopsOnboardError

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def translated_aws_errors(operation: str) -> Iterator[None]:
    """Throttling and transport failures become AwsThrottled; other errors pass through unchanged."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _THROTTLING_CODES:
            raise AwsThrottled(f"{operation}: {error_code(exc)}") from exc
        raise
    except (EndpointConnectionError, ConnectionError) as exc:
        raise AwsThrottled(f"{operation}: AWS endpoint unreachable") from exc


def safe_reason(error: BaseException) -> str:
    """Our own errors' messages name what was refused; others are named by type and AWS error code only."""
    if isinstance(error, KopsOnboardError):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, ClientError):
        return f"{type(error).__name__} {error_code(error)}"
    return type(error).__name__
