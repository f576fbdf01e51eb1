"""Tiny Lambda handlers the local runtime imports by name (`tests.local_aws.sample_handlers.<name>`).

They run in the test process, so tests read what they recorded from this module's globals.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger

_lock = threading.Lock()
_attempts: dict[str, int] = {}
invocations: list[dict[str, Any]] = []
"""Every event a recording handler received, in order, with the function name: {"function", "event"}."""

_log = logging.getLogger("tests.local_aws.sample_handlers")
# Created when the tests import this module, before the runtime swaps stdout: captured via logging.
_powertools = Logger(service="local-aws-tests-preimported")


class ClusterNotFound(Exception):
    """A permanent, named error the state machine catches."""


class TransientError(Exception):
    """A named error the state machine retries."""


def _record(event: Any, context: Any) -> None:
    with _lock:
        invocations.append({"function": context.function_name, "event": event})


def recorded(function_name: str) -> list[Any]:
    with _lock:
        return [entry["event"] for entry in invocations if entry["function"] == function_name]


def echo(event: Any, context: Any) -> dict[str, Any]:
    """Return the event, selected environment variables and the context as the handler saw them."""
    _record(event, context)
    keys = (
        "CLUSTER_TABLE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "POWERTOOLS_SERVICE_NAME",
    )
    return {
        "event": event,
        "env": {key: os.environ.get(key) for key in keys},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }


def chatty(event: Any, context: Any) -> str:
    """Print and log a marker from the event, then set an environment variable (which must not leak)."""
    marker = str(event["marker"])
    print(f"printed {marker}")
    _log.warning("logged %s", marker)
    os.environ["LEAKED_BY_HANDLER"] = marker
    return marker


@_powertools.inject_lambda_context
def powertools_logged(event: Any, context: Any) -> bool:
    _powertools.info("handled", extra={"marker": event["marker"]})
    return True


def send_to_queue(event: Any, context: Any) -> str:
    """Use a default boto3 client (no endpoint given): AWS_ENDPOINT_URL must route it to the local server."""
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=os.environ["TARGET_QUEUE"])["QueueUrl"]
    message_id: str = sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))["MessageId"]
    return message_id


def cluster_not_found(event: Any, context: Any) -> Any:
    _record(event, context)
    raise ClusterNotFound(f"cluster {event.get('cluster', '?')} does not exist")


def flaky(event: Any, context: Any) -> dict[str, Any]:
    """Raise TransientError for the first `failures` calls per `key`, then succeed."""
    _record(event, context)
    with _lock:
        _attempts[event["key"]] = attempt = _attempts.get(event["key"], 0) + 1
    if attempt <= event["failures"]:
        raise TransientError(f"attempt {attempt} failed")
    return {"key": event["key"], "attempts": attempt}


def sleepy(event: Any, context: Any) -> str:
    time.sleep(event["seconds"])
    return "woke up"


def sqs_batch(event: Any, context: Any) -> dict[str, Any]:
    """Record the batch; raise if any body says "fail"; report bodies saying "poison" as item failures."""
    _record(event, context)
    bodies = [record["body"] for record in event["Records"]]
    if any("fail" in body for body in bodies):
        raise RuntimeError("batch rejected")
    failures = [{"itemIdentifier": record["messageId"]} for record in event["Records"] if "poison" in record["body"]]
    return {"batchItemFailures": failures}
