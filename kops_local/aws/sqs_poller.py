"""SQS → Lambda event source mappings, polled the way the Lambda service does it.

moto's own mapping invokes the function synchronously inside `SendMessage` (one message per invocation,
failed messages made visible again at once, no batchItemFailures). We detach that and run one poller
thread per SQS mapping instead:

- receive up to BatchSize messages (several ReceiveMessage calls of <= 10) with the queue's visibility
  timeout, through the local endpoint like a real client, so moto maintains ApproximateReceiveCount and its
  redrive policy (moto moves a message to the DLQ when it is received again after maxReceiveCount receives);
- apply FilterCriteria (non-matching messages are deleted, as Lambda does);
- invoke the handler with the `aws:sqs` event; on a function error nothing is deleted (the batch reappears
  after the visibility timeout); with ReportBatchItemFailures only the reported messages stay, and an
  invalid report (unknown or empty itemIdentifier, non-object response) fails the whole batch;
- delete the messages that succeeded.

Not implemented: MaximumBatchingWindowInSeconds (batches are whatever is visible now), ScalingConfig and
concurrency (invocations are serialized anyway), FIFO group ordering beyond what moto's receive enforces.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from moto.awslambda.models import EventSourceMapping, LambdaBackend, lambda_backends
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.events.models import EventPattern
from moto.sqs.models import sqs_backends

from kops_local.aws.endpoint import local_client
from kops_local.aws.lambda_runtime import LocalLambdaRuntime
from kops_local.aws.patching import AttributePatch

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef, MessageTypeDef

_LOG = logging.getLogger(__name__)
_SQS_RECEIVE_MAX = 10
_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def _is_sqs(esm: EventSourceMapping) -> bool:
    return esm.event_source_arn.split(":")[2] == "sqs"


def _detach_from_moto(esm: EventSourceMapping) -> None:
    """Stop moto from invoking the function inline on every SendMessage for this mapping."""
    backend = sqs_backends[esm.account_id][esm.region]
    for queue in list(backend.queues.values()):
        if queue.queue_arn == esm.event_source_arn:
            queue.lambda_event_source_mappings.pop(esm.function_arn, None)


def detach_mapping_patch() -> AttributePatch:
    """Patch for `LambdaBackend.create_event_source_mapping`: create as moto does, then detach SQS ones."""
    moto_create = vars(LambdaBackend)["create_event_source_mapping"]

    def create_event_source_mapping(self: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
        esm: EventSourceMapping = moto_create(self, spec)
        if _is_sqs(esm):
            _detach_from_moto(esm)
        return esm

    return AttributePatch(LambdaBackend, "create_event_source_mapping", create_event_source_mapping)


def _all_sqs_mappings() -> list[EventSourceMapping]:
    mappings: list[EventSourceMapping] = []
    for account_backends in list(lambda_backends.values()):
        for backend in list(account_backends.values()):
            found: Iterable[EventSourceMapping] = backend.list_event_source_mappings("", "")
            mappings.extend(esm for esm in found if _is_sqs(esm))
    return mappings


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {str(k): v for k, v in message.get("Attributes", {}).items()}
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": _b64(value["BinaryValue"]) if "BinaryValue" in value else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [_b64(v) for v in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _matches_filters(record: dict[str, Any], filter_criteria: dict[str, Any] | None) -> bool:
    filters = (filter_criteria or {}).get("Filters") or []
    if not filters:
        return True
    try:
        body: Any = json.loads(record["body"])
    except ValueError:
        body = record["body"]
    candidate = {**record, "body": body}
    # Lambda's filter syntax is EventBridge's pattern syntax, so moto's matcher applies.
    return any(EventPattern.load(f["Pattern"]).matches_event(candidate) for f in filters)  # type: ignore[arg-type]


def failed_message_ids(payload: str, batch_ids: set[str]) -> set[str]:
    """Ids to keep from a ReportBatchItemFailures response (the whole batch when the report is invalid)."""
    try:
        response = json.loads(payload) if payload else None
    except ValueError:
        return set(batch_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(batch_ids)
    failures = response.get("batchItemFailures") or []
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return set(batch_ids)
        failed.add(identifier)
    return failed


class _MappingWorker:
    """Polls one mapping's queue on its own thread until stopped or the mapping disappears."""

    def __init__(
        self,
        esm: EventSourceMapping,
        *,
        endpoint_url: str,
        runtime: LocalLambdaRuntime,
        poll_interval: float,
    ) -> None:
        self.uuid = esm.uuid
        self._account, self._region = esm.account_id, esm.region
        self.queue_arn = esm.event_source_arn
        queue_name = self.queue_arn.split(":")[5]
        self.queue_url = f"{endpoint_url}/{self._account}/{queue_name}"
        self._runtime = runtime
        self._poll_interval = poll_interval
        self.sqs: SQSClient = local_client(
            "sqs", endpoint_url=endpoint_url, region=self._region, config=Config(retries={"max_attempts": 2})
        )
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sqs-poller-{queue_name}", daemon=True)

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def mapping(self) -> EventSourceMapping | None:
        backend = get_lambda_backend(self._account, self._region)
        return backend.get_event_source_mapping(self.uuid)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            esm = self.mapping()
            if esm is None:
                return
            if not esm.enabled:
                self._stop.wait(self._poll_interval)
                continue
            try:
                handled = self._poll_once(esm)
            except Exception:  # the endpoint going away at shutdown, a deleted queue: keep polling
                _LOG.warning("SQS poller for %s failed", self.queue_arn, exc_info=True)
                handled = False
            finally:
                self._busy.clear()
            if not handled:
                self._stop.wait(self._poll_interval)

    def _receive(self, batch_size: int) -> list[MessageTypeDef]:
        messages: list[MessageTypeDef] = []
        while len(messages) < batch_size:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, batch_size - len(messages)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _SQS_RECEIVE_MAX):
            chunk = messages[start : start + _SQS_RECEIVE_MAX]
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def _poll_once(self, esm: EventSourceMapping) -> bool:
        messages = self._receive(int(esm.batch_size))
        if not messages:
            return False
        # Received messages count as in flight on the queue; "busy" covers the rest of the batch's life.
        self._busy.set()
        records = [_sqs_record(m, self.queue_arn, self._region) for m in messages]
        selected = [r for r in records if _matches_filters(r, esm.filter_criteria)]
        self._delete([r for r in records if r not in selected])
        if not selected:
            return True
        function = get_lambda_backend(self._account, self._region).get_function(esm.function_arn)
        result = self._runtime.invoke(function, {"Records": selected})
        if result.errored:
            return True  # the whole batch becomes visible again after the visibility timeout
        keep: set[str] = set()
        if _BATCH_ITEM_FAILURES in (esm.function_response_types or []):
            keep = failed_message_ids(result.payload, {r["messageId"] for r in selected})
        self._delete([r for r in selected if r["messageId"] not in keep])
        return True


class SqsEventSourcePoller:
    """Keeps one `_MappingWorker` per SQS event source mapping found in moto's Lambda backends."""

    def __init__(self, *, endpoint_url: str, runtime: LocalLambdaRuntime, poll_interval: float = 0.05) -> None:
        self._endpoint_url = endpoint_url
        self._runtime = runtime
        self._poll_interval = poll_interval
        self._workers: dict[str, _MappingWorker] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="sqs-event-sources", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.join(timeout)

    def sync(self) -> None:
        """Start pollers for new mappings and forget pollers whose mapping was deleted."""
        mappings = {esm.uuid: esm for esm in _all_sqs_mappings()}
        with self._lock:
            if self._stop.is_set():
                return
            for uuid, esm in mappings.items():
                if uuid not in self._workers:
                    _detach_from_moto(esm)
                    worker = _MappingWorker(
                        esm,
                        endpoint_url=self._endpoint_url,
                        runtime=self._runtime,
                        poll_interval=self._poll_interval,
                    )
                    self._workers[uuid] = worker
                    worker.start()
            for uuid in [uuid for uuid in self._workers if uuid not in mappings]:
                self._workers.pop(uuid).stop()

    def is_idle(self) -> bool:
        """True when no poller is mid-batch and no enabled mapping's queue holds a message, even in flight."""
        self.sync()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            esm = worker.mapping()
            if worker.busy:
                return False
            if esm is None or not esm.enabled:
                continue
            attributes = worker.sqs.get_queue_attributes(
                QueueUrl=worker.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(count) for count in attributes.values()):
                return False
        return True

    def _supervise(self) -> None:
        while not self._stop.wait(self._poll_interval * 2):
            try:
                self.sync()
            except Exception:  # backends being reset underneath us; try again on the next tick
                _LOG.debug("event source sync failed", exc_info=True)
