"""EventBridge put_events delivers matched events to SQS and Lambda targets in the AWS event shape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from kops_local.aws import LocalAws
from tests.local_aws import sample_handlers
from tests.local_aws.conftest import unique, wait_for
from tests.local_aws.spot_pipeline import (
    SPOT_DETAIL_TYPE,
    SPOT_PATTERN,
    build_pipeline,
    queue_attributes,
    spot_event,
)

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import InputTransformerTypeDef

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_spot_warning_reaches_handler_through_sqs(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given rule → queue → mapping → recording handler
    handler = make_function("sqs_batch")
    pipeline = build_pipeline(local_aws, handler)
    # When EC2 publishes a Spot interruption warning
    response = local_aws.client("events").put_events(Entries=[spot_event("i-0abc")])
    local_aws.drain_event_sources(timeout=120)
    # Then the handler got one SQS record whose body is the event in AWS's shape
    [batch] = sample_handlers.recorded(handler.split(":")[-1])
    [record] = batch["Records"]
    body = json.loads(record["body"])
    assert body == {
        "version": "0",
        "id": response["Entries"][0]["EventId"],
        "detail-type": SPOT_DETAIL_TYPE,
        "source": "aws.ec2",
        "account": local_aws.account_id,
        "time": body["time"],
        "region": local_aws.region,
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"],
        "detail": {"instance-id": "i-0abc", "instance-action": "terminate"},
    }
    assert ISO_UTC.match(body["time"])
    # and the record carries the SQS event source fields
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == pipeline.queue_arn
    assert record["awsRegion"] == local_aws.region
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "md5OfBody", "messageAttributes"} <= record.keys()
    # and the processed message is gone
    assert queue_attributes(local_aws, pipeline.queue_url) == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 0,
    }


def test_non_matching_event_is_not_delivered(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given the Spot pipeline
    handler = make_function("sqs_batch")
    pipeline = build_pipeline(local_aws, handler)
    # When EC2 publishes a different detail-type
    local_aws.client("events").put_events(Entries=[spot_event("i-0def", "EC2 Instance State-change Notification")])
    local_aws.drain_event_sources(timeout=120)
    # Then nothing was queued or invoked
    assert sample_handlers.recorded(handler.split(":")[-1]) == []
    assert queue_attributes(local_aws, pipeline.queue_url)["ApproximateNumberOfMessages"] == 0


def test_lambda_targets_get_event_or_their_configured_input(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a rule with four Lambda targets: the whole event, InputPath, Input and InputTransformer
    whole, by_path, constant, transformed = (make_function("echo") for _ in range(4))
    transformer: InputTransformerTypeDef = {
        "InputPathsMap": {"instance": "$.detail.instance-id"},
        "InputTemplate": '{"instance": <instance>, "note": "<instance> will stop"}',
    }
    events = local_aws.client("events")
    rule = unique("spot-lambda")
    events.put_rule(Name=rule, EventPattern=json.dumps(SPOT_PATTERN))
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "whole", "Arn": whole},
            {"Id": "path", "Arn": by_path, "InputPath": "$.detail"},
            {"Id": "constant", "Arn": constant, "Input": json.dumps({"fixed": True})},
            {"Id": "transformed", "Arn": transformed, "InputTransformer": transformer},
        ],
    )
    # When a matching event is published
    response = events.put_events(Entries=[spot_event("i-0123")])
    # Then put_events succeeds and each function is invoked asynchronously with its input
    assert response["FailedEntryCount"] == 0
    [event] = wait_for(lambda: sample_handlers.recorded(whole.split(":")[-1]))
    assert event["id"] == response["Entries"][0]["EventId"]
    assert event["detail-type"] == SPOT_DETAIL_TYPE
    assert event["account"] == local_aws.account_id
    assert wait_for(lambda: sample_handlers.recorded(by_path.split(":")[-1])) == [
        {"instance-id": "i-0123", "instance-action": "terminate"}
    ]
    assert wait_for(lambda: sample_handlers.recorded(constant.split(":")[-1])) == [{"fixed": True}]
    assert wait_for(lambda: sample_handlers.recorded(transformed.split(":")[-1])) == [
        {"instance": "i-0123", "note": "i-0123 will stop"}
    ]


def test_disabled_rule_delivers_nothing(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a disabled rule with a Lambda target
    function = make_function("echo")
    events = local_aws.client("events")
    rule = unique("disabled")
    events.put_rule(Name=rule, EventPattern=json.dumps(SPOT_PATTERN), State="DISABLED")
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function}])
    # When a matching event is published
    events.put_events(Entries=[spot_event("i-0999")])
    local_aws.drain_event_sources(timeout=120)
    # Then the function never ran
    assert sample_handlers.recorded(function.split(":")[-1]) == []


def test_scheduled_rule_fires_its_targets_with_a_scheduled_event(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a schedule-only rule with a Lambda target
    function = make_function("echo")
    events = local_aws.client("events")
    rule = unique("every-15")
    rule_arn = events.put_rule(Name=rule, ScheduleExpression="rate(15 minutes)")["RuleArn"]
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function}])
    # When an event is put on the bus, then the schedule fires
    events.put_events(Entries=[spot_event("i-0123")])
    local_aws.drain_event_sources(timeout=10)
    event_id = local_aws.fire_scheduled_rule(rule)
    local_aws.drain_event_sources(timeout=10)
    # Then the function got the Scheduled Event only (a rule without a pattern matches no bus event)
    [event] = sample_handlers.recorded(function.split(":")[-1])
    assert event == {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": local_aws.account_id,
        "time": event["time"],
        "region": local_aws.region,
        "resources": [rule_arn],
        "detail": {},
    }
    assert ISO_UTC.match(event["time"])


def test_firing_a_rule_without_schedule_is_refused(local_aws: LocalAws) -> None:
    # Given a pattern-only rule
    rule = unique("pattern")
    local_aws.client("events").put_rule(Name=rule, EventPattern=json.dumps(SPOT_PATTERN))
    # When it is fired as a schedule, then that is refused: EventBridge would never run it
    with pytest.raises(ValueError, match="has no schedule"):
        local_aws.fire_scheduled_rule(rule)


def test_an_event_bus_target_passes_the_event_on_as_it_is(local_aws: LocalAws) -> None:
    # Given a rule in another region forwarding to this region's default bus (what a Spot forwarder does),
    # and a rule here that queues what it matches
    other = "us-west-2"
    home_bus = f"arn:aws:events:{local_aws.region}:{local_aws.account_id}:event-bus/default"
    sqs = local_aws.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("forwarded"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    here, there = local_aws.client("events"), local_aws.client("events", other)
    home_rule, forward_rule = unique("home"), unique("forward")
    here.put_rule(Name=home_rule, EventPattern=json.dumps(SPOT_PATTERN))
    here.put_targets(Rule=home_rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    there.put_rule(Name=forward_rule, EventPattern=json.dumps(SPOT_PATTERN))
    role = f"arn:aws:iam::{local_aws.account_id}:role/forward"
    there.put_targets(Rule=forward_rule, Targets=[{"Id": "home", "Arn": home_bus, "RoleArn": role}])
    try:
        # When EC2 publishes a Spot warning in the other region
        response = there.put_events(Entries=[spot_event("i-0far")])
        # Then the home rule queued it with the other region's id, time, region and account
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
        [body] = [json.loads(message["Body"]) for message in messages]
        assert body["id"] == response["Entries"][0]["EventId"]
        assert (body["region"], body["account"]) == (other, local_aws.account_id)
        assert (body["source"], body["detail-type"]) == ("aws.ec2", SPOT_DETAIL_TYPE)
        assert body["detail"] == {"instance-id": "i-0far", "instance-action": "terminate"}
        assert ISO_UTC.match(body["time"])
    finally:
        for client, rule, target in ((here, home_rule, "queue"), (there, forward_rule, "home")):
            client.remove_targets(Rule=rule, Ids=[target])
            client.delete_rule(Name=rule)
        sqs.delete_queue(QueueUrl=queue_url)
