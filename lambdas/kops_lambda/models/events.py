"""EC2 events from EventBridge, as typed models (samples below; tests/spot/events/ holds them as fixtures).

Sample (EC2 Spot Instance Interruption Warning):
{"version": "0", "id": "1e5527d7-bb36-4607-3370-4164db56a40e", "detail-type": "EC2 Spot Instance Interruption Warning",
 "source": "aws.ec2", "account": "123456789012", "time": "1970-01-01T00:00:00Z", "region": "us-east-1",
 "resources": ["arn:aws:ec2:us-east-1b:instance/i-0b662ef9931388ba0"],
 "detail": {"instance-id": "i-0b662ef9931388ba0", "instance-action": "terminate"}}

EC2 Instance Rebalance Recommendation: the same envelope, "detail": {"instance-id": "i-0b662ef9931388ba0"}.

EC2 Capacity Reservation Instance Interruption Warning (an interruptible Capacity Reservation reclaimed, two
minutes ahead): "detail": {"instance-id": "i-0b662ef9931388ba0", "instance-action": "terminate",
"instance-termination-time": "1970-01-01T00:02:00Z", "azId": "use1-az1"}.

EC2 Instance-terminate Lifecycle Action (source aws.autoscaling; an ASG terminating an instance whose group has a
termination lifecycle hook): "detail": {"LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
"AutoScalingGroupName": "nodes-us-east-1a.demo.k8s.local", "LifecycleHookName": "kops-onboard-drain",
"EC2InstanceId": "i-0b662ef9931388ba0", "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
"NotificationMetadata": "...", "Origin": "AutoScalingGroup", "Destination": "EC2"}.

AWS Health Event (source aws.health; scheduled changes of EC2 instances): "detail": {"service": "EC2",
"eventTypeCategory": "scheduledChange", "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
"startTime": "...", "affectedEntities": [{"entityValue": "i-0b662ef9931388ba0"}, ...]}. One event names every
affected instance: scheduled_changes() splits it into one ScheduledChangeEvent per instance.

EC2 Instance State-change Notification (every instance, every state; our rule forwards only the states in
SPOT_STATE_CHANGE_STATES): "detail": {"instance-id": "i-0b662ef9931388ba0", "state": "shutting-down"}.
"""

import re
from datetime import datetime
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"


class SpotWarningDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    instance_action: Literal["terminate", "stop", "hibernate"] = Field(alias="instance-action")


class RebalanceDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)


class CapacityReservationWarningDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    instance_action: Literal["terminate"] = Field(alias="instance-action")
    termination_time: datetime | None = Field(default=None, alias="instance-termination-time")


class LifecycleActionDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="EC2InstanceId", pattern=INSTANCE_ID_PATTERN)
    asg_name: str = Field(alias="AutoScalingGroupName", min_length=1, max_length=255)
    hook_name: str = Field(alias="LifecycleHookName", min_length=1, max_length=255)
    token: str = Field(alias="LifecycleActionToken", min_length=36, max_length=36)
    transition: Literal["autoscaling:EC2_INSTANCE_TERMINATING"] = Field(alias="LifecycleTransition")


class AffectedEntity(BaseModel):
    entity_value: str = Field(alias="entityValue", max_length=1600)


class HealthDetail(BaseModel):
    service: Literal["EC2"]
    event_type_category: Literal["scheduledChange"] = Field(alias="eventTypeCategory")
    event_type_code: str = Field(alias="eventTypeCode", min_length=1, max_length=100)
    start_time: datetime | None = Field(default=None, alias="startTime")
    affected_entities: list[AffectedEntity] = Field(default_factory=list, alias="affectedEntities", max_length=1000)


class ScheduledChangeDetail(BaseModel):
    """One instance of a Health event's affected entities."""

    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    event_type_code: str = Field(alias="eventTypeCode")
    start_time: datetime | None = Field(default=None, alias="startTime")


class StateChangeDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    state: Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]


class SpotWarningEvent(EventBridgeModel):
    detail_type: Literal["EC2 Spot Instance Interruption Warning"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: SpotWarningDetail


class RebalanceEvent(EventBridgeModel):
    detail_type: Literal["EC2 Instance Rebalance Recommendation"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: RebalanceDetail


class CapacityReservationWarningEvent(EventBridgeModel):
    detail_type: Literal["EC2 Capacity Reservation Instance Interruption Warning"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: CapacityReservationWarningDetail


class LifecycleActionEvent(EventBridgeModel):
    detail_type: Literal["EC2 Instance-terminate Lifecycle Action"] = Field(alias="detail-type")
    source: Literal["aws.autoscaling"]
    detail: LifecycleActionDetail


class HealthEvent(EventBridgeModel):
    detail_type: Literal["AWS Health Event"] = Field(alias="detail-type")
    source: Literal["aws.health"]
    detail: HealthDetail


class ScheduledChangeEvent(EventBridgeModel):
    detail_type: Literal["AWS Health Event"] = Field(alias="detail-type")
    source: Literal["aws.health"]
    detail: ScheduledChangeDetail


class StateChangeEvent(EventBridgeModel):
    detail_type: Literal["EC2 Instance State-change Notification"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: StateChangeDetail


Ec2InterruptionEvent = (
    SpotWarningEvent
    | RebalanceEvent
    | CapacityReservationWarningEvent
    | StateChangeEvent
    | LifecycleActionEvent
    | ScheduledChangeEvent
)


def scheduled_changes(event: HealthEvent) -> list[ScheduledChangeEvent]:
    """One event per affected instance (its entities and resources that are instance ids, each once)."""
    candidates = [e.entity_value for e in event.detail.affected_entities] + list(event.resources)
    instance_ids = list(dict.fromkeys(c for c in candidates if re.fullmatch(INSTANCE_ID_PATTERN, c)))
    envelope = event.model_dump(by_alias=True, exclude={"detail"})
    return [
        ScheduledChangeEvent.model_validate(
            envelope
            | {
                "detail": {
                    "instance-id": instance_id,
                    "eventTypeCode": event.detail.event_type_code,
                    "startTime": event.detail.start_time,
                }
            }
        )
        for instance_id in instance_ids
    ]
