"""`kops-onboard simulate-spot`: a realistic interruption event where the handler receives it.

`--via bus` (the default locally, AWS_ENDPOINT_URL set) puts the event on the EventBridge bus like EC2's: the
instance's region's (for another Spot region, its forwarder carries it to the deployment's). Real EventBridge
does not accept events with source aws.ec2 from accounts, and the Spot queue refuses SendMessage to everyone
but the Spot rules (stacks/spot.py), so `--via handler` (the default against AWS) invokes the Spot handler
with the event as one SQS record, the shape the queue would deliver, and reports whether it was handled. The
handler checks it like any other (this account, a covered region, a Spot instance); the caller needs
`lambda:InvokeFunction` on the handler, an operator's right.
"""

import hashlib
import json
import os
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from kops_onboard.commands.common import Exit, aws_errors, emit, fail
from kops_onboard.commands.options import Output, SimulateVia
from kops_onboard.deployment import Deployment
from kops_onboard.spot_events import REBALANCE, SPOT_WARNING, eventbridge_event, spot_event_entry


def run_simulate_spot(
    *,
    instance_id: str,
    rebalance: bool,
    region: str | None,
    cluster_region: str | None,
    via: SimulateVia = SimulateVia.auto,
    output: Output,
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
        if via is SimulateVia.auto:
            via = SimulateVia.bus if os.environ.get("AWS_ENDPOINT_URL") else SimulateVia.handler
        if via is SimulateVia.bus:
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
            function = deployment.spot_handler_function()
            _invoke_handler(deployment.client("lambda"), function, event, region=deployment.region_name, output=output)
            delivered_to, reference = "Spot handler", event["id"]
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


def _invoke_handler(lambda_client: Any, function: str, event: dict[str, Any], *, region: str, output: Output) -> None:
    """One synchronous invocation with the event as the single record of an SQS batch; fails unless handled."""
    body = json.dumps(event)
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "simulate-spot",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{event['account']}:simulate-spot",
        "awsRegion": region,
    }
    response = lambda_client.invoke(FunctionName=function, Payload=json.dumps({"Records": [record]}).encode())
    payload = json.loads(response["Payload"].read().decode() or "null") or {}
    # A batch whose every record failed is a function error (Powertools' BatchProcessingError), a partly
    # failed one lists them: either way the record was not handled, and the handler logged why.
    unhandled = payload.get("errorType") == "BatchProcessingError" or bool(payload.get("batchItemFailures"))
    if unhandled:
        fail(output, Exit.FAILED, f"the Spot handler did not handle the event; its log ({function}) says why")
    if response.get("FunctionError"):
        message = str(payload.get("errorMessage") or "").splitlines()[:1]
        fail(output, Exit.AWS, f"the Spot handler failed: {payload.get('errorType')}: {''.join(message)}")


def _instance_exists(ec2: Any, instance_id: str) -> bool:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return False
        raise
    return any(reservation["Instances"] for reservation in reservations)
