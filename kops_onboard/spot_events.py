"""Realistic EC2 Spot events, for simulations and tests."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from kops_lambda.constants import SPOT_EVENT_SOURCE

SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"


def spot_event_entry(
    *,
    instance_id: str,
    region: str,
    account: str,
    detail_type: str = SPOT_WARNING,
    when: datetime | None = None,
) -> dict[str, Any]:
    """A PutEvents entry shaped like the one EC2 emits."""
    detail: dict[str, str] = {"instance-id": instance_id}
    if detail_type == SPOT_WARNING:
        detail["instance-action"] = "terminate"
    return {
        "Time": when or datetime.now(UTC),
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
