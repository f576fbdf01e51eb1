"""Build the Spot interruption path the stack wires: EventBridge rule → SQS (with DLQ) → Lambda mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef
    from mypy_boto3_sqs.literals import QueueAttributeFilterType

from kops_local.aws import LocalAws
from tests.local_aws.conftest import unique

SPOT_DETAIL_TYPE = "EC2 Spot Instance Interruption Warning"
SPOT_PATTERN = {"source": ["aws.ec2"], "detail-type": [SPOT_DETAIL_TYPE]}


@dataclass(frozen=True)
class Pipeline:
    queue_url: str
    queue_arn: str
    dlq_url: str
    mapping_uuid: str


def spot_event(instance_id: str, detail_type: str = SPOT_DETAIL_TYPE) -> PutEventsRequestEntryTypeDef:
    return {
        "Source": "aws.ec2",
        "DetailType": detail_type,
        "Detail": json.dumps({"instance-id": instance_id, "instance-action": "terminate"}),
        "Resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
    }


def queue_attributes(local_aws: LocalAws, queue_url: str) -> dict[str, int]:
    names: list[QueueAttributeFilterType] = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    attributes = local_aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return {name: int(value) for name, value in attributes["Attributes"].items()}


def _queue_arn(local_aws: LocalAws, queue_url: str) -> str:
    attributes = local_aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def build_pipeline(
    local_aws: LocalAws, function_arn: str, *, max_receive_count: int = 2, enabled: bool = True
) -> Pipeline:
    sqs = local_aws.client("sqs")
    events = local_aws.client("events")
    name = unique("spot")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _queue_arn(local_aws, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    # A 1 s visibility timeout keeps the failed-message round trips short.
    queue_url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    queue_arn = _queue_arn(local_aws, queue_url)
    events.put_rule(Name=name, EventPattern=json.dumps(SPOT_PATTERN))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    mapping = local_aws.client("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=function_arn,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        Enabled=enabled,
    )
    return Pipeline(queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url, mapping_uuid=mapping["UUID"])
