"""Spot events the handler must not act on, and a cluster it cannot reach: acknowledged at once, or retried
and parked in the DLQ with the event intact."""

from __future__ import annotations

import json

import pytest

from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from stacks.spot import MAX_RECEIVES
from tests.e2e import spot_support as support


def test_instances_of_other_and_not_onboarded_clusters_are_acknowledged_untouched(local_system: LocalSystem) -> None:
    # Given a seeded kOps cluster that was never onboarded, and an instance that belongs to no kOps cluster
    outsider = local_system.add_cluster(ClusterSpec.parse("outsider.k8s.local:nodes=2,pods=2"))
    spot = support.spot_workers(outsider)[0]
    ec2 = local_system.aws.client("ec2")
    image = ec2.describe_instances(InstanceIds=[spot.instance_id])["Reservations"][0]["Instances"][0]["ImageId"]
    plain = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceMarketOptions={"MarketType": "spot"})
    plain_id = plain["Instances"][0]["InstanceId"]
    local_system.aws.drain_event_sources(timeout=60)
    ignored_before = sum(support.emf_metric(local_system, "IgnoredEvents"))
    outsider.api_server.clear_requests()
    # When interruption warnings for both arrive
    support.put(
        local_system,
        support.entry(local_system, spot),
        support.state_change_entry(local_system, plain_id, "shutting-down"),
    )
    local_system.aws.drain_event_sources(timeout=60)
    # Then both were acknowledged as ignored (counted), nothing was retried, and the cluster saw no request
    assert sum(support.emf_metric(local_system, "IgnoredEvents")) == ignored_before + 2
    assert support.queued_messages(local_system, "SpotEventQueueUrl") == 0
    assert support.queued_messages(local_system, "SpotDeadLetterQueueUrl") == 0
    assert outsider.api_server.requests == []
    assert not support.node(outsider, spot)["spec"].get("unschedulable")


@pytest.mark.usefixtures("short_visibility")
def test_an_unreachable_api_server_is_retried_then_the_event_waits_in_the_dlq(local_system: LocalSystem) -> None:
    # Given an onboarded cluster whose API server stopped answering
    dark = support.onboard(local_system, "dark.k8s.local:nodes=2,pods=2")
    spot = support.spot_workers(dark)[0]
    dark.api_server.stop()
    try:
        # When its instance's interruption warning arrives
        body = support.delivered_body(local_system, spot)
        support.send_to_queue(local_system, body)
        local_system.aws.drain_event_sources(timeout=60)
    finally:
        # Back at its address, so later tests of the shared system can offboard it
        dark.api_server.start()
    # Then after the queue's 3 receives the event sits in the DLQ, intact
    sqs = local_system.aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=local_system.output("SpotDeadLetterQueueUrl"),
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    (parked,) = [m for m in messages if json.loads(m["Body"])["id"] == json.loads(body)["id"]]
    assert json.loads(parked["Body"]) == json.loads(body)
    sqs.delete_message(QueueUrl=local_system.output("SpotDeadLetterQueueUrl"), ReceiptHandle=parked["ReceiptHandle"])
    # And it was handled (and failed) once per receive
    failures = [
        line for line in local_system.aws.captured_logs if "KubeApiUnavailable" in line and spot.instance_id in line
    ]
    assert len(failures) >= 3, failures


@pytest.mark.usefixtures("short_visibility")
def test_a_malformed_event_is_counted_then_parked_in_the_dlq_intact(local_system: LocalSystem) -> None:
    # Given an event on the queue that is not an EC2 interruption event (no detail, no instance)
    body = json.dumps({"id": "not-an-interruption", "detail-type": "EC2 Spot Instance Interruption Warning"})
    counted_before = sum(support.emf_metric(local_system, "MalformedEvents"))
    # When the handler receives it
    support.send_to_queue(local_system, body)
    local_system.aws.drain_event_sources(timeout=60)
    # Then it failed alone, once per receive (counted each time), and is not retried forever: it waits in the DLQ
    assert sum(support.emf_metric(local_system, "MalformedEvents")) - counted_before == MAX_RECEIVES
    sqs = local_system.aws.client("sqs")
    dlq = local_system.output("SpotDeadLetterQueueUrl")
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    (parked,) = [m for m in messages if m["Body"] == body]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked["ReceiptHandle"])
    assert support.queued_messages(local_system, "SpotEventQueueUrl") == 0
