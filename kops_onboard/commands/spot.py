"""`kops-onboard simulate-spot`: a realistic interruption event where the handler receives it.

Locally (AWS_ENDPOINT_URL set) the event goes on the EventBridge bus like EC2's: the instance's region's (for
another Spot region, its forwarder carries it to the deployment's). Real EventBridge does not accept events with
source aws.ec2 from accounts, so against AWS it goes into the Spot queue directly, in the shape the rule would
deliver; the queue's policy refuses SendMessage to everyone but the Spot rules (stacks/spot.py), so AWS answers
AccessDenied there (exit 4, the error printed).
"""

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from kops_onboard.commands.common import Exit, Output, aws_errors, emit, fail
from kops_onboard.deployment import Deployment
from kops_onboard.spot_events import REBALANCE, SPOT_WARNING, eventbridge_event, spot_event_entry


def run_simulate_spot(
    *, instance_id: str, rebalance: bool, region: str | None, cluster_region: str | None, output: Output
) -> None:
    if not instance_id.startswith("i-"):
        fail(output, Exit.USAGE, f"{instance_id!r} is not an EC2 instance id (i-...)")
    deployment = Deployment(region)
    detail_type = REBALANCE if rebalance else SPOT_WARNING
    with aws_errors(output):
        account = deployment.client("sts").get_caller_identity()["Account"]
        region_name = cluster_region or deployment.region_name
        where = Deployment(region_name)  # where the instance is, and EC2 would emit its events
        if not _instance_exists(where.client("ec2"), instance_id):
            fail(output, Exit.USAGE, f"instance {instance_id} is not in account {account} in {region_name}")
        if os.environ.get("AWS_ENDPOINT_URL"):
            entry = spot_event_entry(
                instance_id=instance_id, region=region_name, account=account, detail_type=detail_type
            )
            response = where.client("events").put_events(Entries=[entry])
            if response.get("FailedEntryCount"):
                fail(output, Exit.AWS, f"the event bus refused the event: {response['Entries']}")
            delivered_to, reference = "event bus", response["Entries"][0].get("EventId")
        else:
            event = eventbridge_event(
                instance_id=instance_id, region=region_name, account=account, detail_type=detail_type
            )
            sent = deployment.client("sqs").send_message(
                QueueUrl=deployment.spot_queue_url(), MessageBody=json.dumps(event)
            )
            delivered_to, reference = "Spot queue", sent["MessageId"]
    emit(
        output,
        {
            "status": "sent",
            "detail_type": detail_type,
            "instance_id": instance_id,
            "via": delivered_to,
            "id": reference,
        },
        f"{detail_type} for {instance_id} sent to the {delivered_to} ({reference})",
    )


def _instance_exists(ec2: Any, instance_id: str) -> bool:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return False
        raise
    return any(reservation["Instances"] for reservation in reservations)
