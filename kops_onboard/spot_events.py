"""Realistic EC2 Spot events, for simulations and tests."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kops_lambda.constants import (
    CAPACITY_RESERVATION_WARNING_DETAIL_TYPE,
    SPOT_EVENT_SOURCE,
    SPOT_NOTICE_SECONDS,
    SPOT_WARNING_DETAIL_TYPE,
)

SPOT_WARNING = SPOT_WARNING_DETAIL_TYPE
REBALANCE = "EC2 Instance Rebalance Recommendation"
CAPACITY_RESERVATION_WARNING = CAPACITY_RESERVATION_WARNING_DETAIL_TYPE


def spot_event_entry(
    *,
    instance_id: str,
    region: str,
    account: str,
    detail_type: str = SPOT_WARNING,
    when: datetime | None = None,
) -> dict[str, Any]:
    """A PutEvents entry shaped like the one EC2 emits."""
    when = when or datetime.now(UTC)
    detail: dict[str, str] = {"instance-id": instance_id}
    if detail_type in (SPOT_WARNING, CAPACITY_RESERVATION_WARNING):
        detail["instance-action"] = "terminate"
    if detail_type == CAPACITY_RESERVATION_WARNING:
        gone = when + timedelta(seconds=SPOT_NOTICE_SECONDS)
        detail["instance-termination-time"] = gone.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Time": when,
        "Source": SPOT_EVENT_SOURCE,
        "DetailType": detail_type,
        "Resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "Detail": json.dumps(detail),
    }


def eventbridge_event(
    *,
    instance_id: str,
    region: str,
    account: str,
    detail_type: str = SPOT_WARNING,
    when: datetime | None = None,
) -> dict[str, Any]:
    """The event as EventBridge delivers it to a target."""
    entry = spot_event_entry(
        instance_id=instance_id, region=region, account=account, detail_type=detail_type, when=when
    )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SPOT_EVENT_SOURCE,
        "account": account,
        "time": entry["Time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": entry["Resources"],
        "detail": json.loads(entry["Detail"]),
    }
