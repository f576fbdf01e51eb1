"""Translate botocore errors into our typed errors."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError

from kops_lambda.errors import AwsThrottled

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
