"""Tiny Lambda handlers the local runtime imports by name (`tests.local_aws.sample_handlers.<name>`).

They run in the runtime's worker processes (one per container), so what they record goes to files under
$RECORDINGS_DIR (set by the package's conftest before any container starts), which the tests read.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger

RECORDINGS_DIR = "LOCAL_AWS_TEST_RECORDINGS"

_log = logging.getLogger("tests.local_aws.sample_handlers")
# Created when the tests import this module, before the runtime swaps stdout: captured via logging.
_powertools = Logger(service="local-aws-tests-preimported")


class ClusterNotFound(Exception):
    """A permanent, named error the state machine catches."""


class TransientError(Exception):
    """A named error the state machine retries."""


def _record(event: Any, context: Any) -> None:
    """One file per event, named so that a listing sorts them in the order they were received."""
    folder = Path(os.environ[RECORDINGS_DIR]) / context.function_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{time.time_ns():020d}-{uuid.uuid4().hex}.json").write_text(json.dumps(event))


def recorded(function_name: str) -> list[Any]:
    """Every event the recording handlers of that function received, in order."""
    folder = Path(os.environ[RECORDINGS_DIR]) / function_name
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.exists() else []


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


def caller(event: Any, context: Any) -> dict[str, str]:
    """Who the handler's default credentials are, as STS sees them."""
    identity = boto3.client("sts").get_caller_identity()
    return {"arn": identity["Arn"], "user_id": identity["UserId"]}


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
    attempt = sum(1 for earlier in recorded(context.function_name) if earlier.get("key") == event["key"])
    if attempt <= event["failures"]:
        raise TransientError(f"attempt {attempt} failed")
    return {"key": event["key"], "attempts": attempt}


def sleepy(event: Any, context: Any) -> str:
    """Record the event and this container's process id, then sleep `seconds`."""
    _record({**event, "pid": os.getpid()}, context)
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


def rendezvous(event: Any, context: Any) -> dict[str, Any]:
    """Wait, at most `patience` seconds, until `expected` invocations of the `group` are in their handlers
    at the same time; report whether they met and which process this one ran in."""
    folder = Path(os.environ[RECORDINGS_DIR]) / "rendezvous" / event["group"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / context.aws_request_id).touch()
    deadline = time.monotonic() + event["patience"]
    while len(list(folder.iterdir())) < event["expected"] and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"pid": os.getpid(), "met": len(list(folder.iterdir())) >= event["expected"]}


def occupancy(event: Any, context: Any) -> dict[str, Any]:
    """Stay `seconds` in the handler, watching how many invocations of the `group` are in theirs meanwhile."""
    folder = Path(os.environ[RECORDINGS_DIR]) / "occupancy" / event["group"]
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / context.aws_request_id
    marker.touch()
    most = 0
    try:
        deadline = time.monotonic() + event["seconds"]
        while time.monotonic() < deadline:
            most = max(most, len(list(folder.iterdir())))
            time.sleep(0.01)
    finally:
        marker.unlink()
    return {"pid": os.getpid(), "most_at_once": most}


_invocations_in_this_container: list[str] = []


def counter(event: Any, context: Any) -> dict[str, Any]:
    """Count this container's invocations in module state; report the process and the MARK variables."""
    _invocations_in_this_container.append(context.aws_request_id)
    os.environ[f"SET_BY_{os.environ['MARK']}"] = "x"  # stays in this container
    marks = sorted(key for key in os.environ if key.startswith("SET_BY_"))
    return {"pid": os.getpid(), "count": len(_invocations_in_this_container), "mark": os.environ["MARK"], "set": marks}
