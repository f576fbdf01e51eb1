"""SQS → Lambda mappings: batches, partial failures, visibility timeout and the DLQ redrive."""

from __future__ import annotations

import json
from collections.abc import Callable

from kops_local.aws import LocalAws
from tests.local_aws import sample_handlers
from tests.local_aws.spot_pipeline import build_pipeline, queue_attributes


def _bodies(local_aws: LocalAws, queue_url: str) -> list[str]:
    messages = local_aws.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return sorted(message["Body"] for message in messages.get("Messages", []))


def test_failing_message_moves_to_dlq_after_max_receive_count(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a mapping whose handler rejects any batch containing "fail", maxReceiveCount 2
    handler = make_function("sqs_batch")
    pipeline = build_pipeline(local_aws, handler, max_receive_count=2)
    # When such a message arrives
    local_aws.client("sqs").send_message(QueueUrl=pipeline.queue_url, MessageBody="fail-1")
    local_aws.drain_event_sources(timeout=120)
    # Then the handler saw it exactly twice (receive counts 1 and 2) and SQS moved it to the DLQ
    batches = sample_handlers.recorded(handler.split(":")[-1])
    counts = [record["attributes"]["ApproximateReceiveCount"] for batch in batches for record in batch["Records"]]
    assert counts == ["1", "2"]
    assert queue_attributes(local_aws, pipeline.queue_url)["ApproximateNumberOfMessages"] == 0
    assert _bodies(local_aws, pipeline.dlq_url) == ["fail-1"]


def test_batch_item_failures_leave_only_reported_messages(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a disabled mapping (so both messages form one batch) and a handler reporting "poison" as failed
    handler = make_function("sqs_batch")
    pipeline = build_pipeline(local_aws, handler, max_receive_count=2, enabled=False)
    sqs = local_aws.client("sqs")
    sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps({"id": "good"}))
    sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps({"id": "poison"}))
    # When the mapping is enabled and the queue drains
    local_aws.client("lambda").update_event_source_mapping(UUID=pipeline.mapping_uuid, Enabled=True)
    local_aws.drain_event_sources(timeout=120)
    # Then the first batch held both, the good one was deleted after one delivery,
    # and only the poison message was redelivered until it reached the DLQ
    batches = sample_handlers.recorded(handler.split(":")[-1])
    seen = [[json.loads(record["body"])["id"] for record in batch["Records"]] for batch in batches]
    assert sorted(seen[0]) == ["good", "poison"]
    assert seen[1:] == [["poison"]]
    assert _bodies(local_aws, pipeline.dlq_url) == [json.dumps({"id": "poison"})]
