"""Authentic Spot events only, through EventBridge -> SQS -> the real handler: another account's events are
not delivered by the rules; forged messages put straight on the queue are rejected (counted, logged with
their reason, acknowledged, the node untouched); control-plane nodes are cordoned only and never detached."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from kops_lambda.constants import ENV_SPOT_DRAIN_CONTROL_PLANE, SPOT_EVENT_SOURCE
from kops_local.seed import SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.spot_events import eventbridge_event, spot_event_entry
from tests.e2e import spot_support as support

OTHER_ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return support.onboard_without_budget(local_system, "authentic.k8s.local:kops=1.22,nodes=4,pods=2,naming=id")


def _node_patches(cluster: LocalCluster, node_name: str) -> list[Any]:
    return [r for r in cluster.api_server.requests if r.method == "PATCH" and r.path == f"/api/v1/nodes/{node_name}"]


def _pod_lists(cluster: LocalCluster, node_name: str) -> int:
    selector = f"spec.nodeName={node_name}"
    return sum(
        1 for r in cluster.api_server.requests if r.path == "/api/v1/pods" and r.query.get("fieldSelector") == selector
    )


def _other_account_client(system: LocalSystem, service: str) -> Any:
    """A client acting as another account on the same local endpoint (moto keys accounts by credential)."""
    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/elsewhere"
    credentials = system.aws.client("sts").assume_role(RoleArn=role, RoleSessionName="elsewhere")["Credentials"]
    factory: Any = boto3.client  # the service name is dynamic; the stubs only type literal names
    return factory(
        service,
        endpoint_url=system.aws.endpoint_url,
        region_name=system.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_an_event_of_another_account_is_not_delivered_by_the_rules(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given another account whose rule sends EC2 events to our default bus (as a bus policy would let it) and
    # to a queue of its own (which shows the event was put and matched there)
    events = _other_account_client(local_system, "events")
    sqs = _other_account_client(local_system, "sqs")
    seen_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    seen_arn = sqs.get_queue_attributes(QueueUrl=seen_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    our_bus = f"arn:aws:events:{local_system.region}:{local_system.aws.account_id}:event-bus/default"
    events.put_rule(Name="to-them", EventPattern=json.dumps({"source": [SPOT_EVENT_SOURCE]}))
    events.put_targets(Rule="to-them", Targets=[{"Id": "bus", "Arn": our_bus}, {"Id": "seen", "Arn": seen_arn}])
    spot = support.spot_workers(cluster)[0]
    node_name = cluster.kube.node_name(spot.instance_id)
    cluster.api_server.clear_requests()
    # When that account puts a Spot warning for our instance
    entry = spot_event_entry(instance_id=spot.instance_id, region=local_system.region, account=OTHER_ACCOUNT)
    (put,) = events.put_events(Entries=[entry])["Entries"]
    local_system.aws.drain_event_sources(timeout=60)
    # Then it went through their rule, with their account
    (seen,) = sqs.receive_message(QueueUrl=seen_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(seen["Body"])["account"] == OTHER_ACCOUNT
    # But our rules did not deliver it: the handler never saw it and the node is untouched
    assert support.handler_lines(local_system, put["EventId"]) == []
    assert not support.node(cluster, spot)["spec"].get("unschedulable")
    assert _node_patches(cluster, node_name) == []


def _forged(system: LocalSystem, instance: SeededInstance, **fields: Any) -> dict[str, Any]:
    event = eventbridge_event(instance_id=instance.instance_id, region=system.region, account=system.aws.account_id)
    return event | fields


@pytest.mark.usefixtures("short_visibility")
def test_forged_messages_on_the_queue_are_rejected_counted_logged_and_not_retried(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given a Spot worker and an on-demand worker, and messages nobody's rule produced, put straight on the
    # queue (moto does not enforce the queue policy that refuses this in AWS: tests/infrastructure)
    spot = support.spot_workers(cluster)[1]
    on_demand = next(i for i in cluster.aws.workers if i.lifecycle == "on-demand")
    future = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = {
        "account": _forged(local_system, spot, account=OTHER_ACCOUNT),
        "region": _forged(local_system, spot, region="ap-south-1"),
        "future": _forged(local_system, spot, time=future),
        "on-demand": _forged(local_system, on_demand),
    }
    expected = {
        "account": f"event of account {OTHER_ACCOUNT}, not this deployment's ({local_system.aws.account_id})",
        "region": "event of region ap-south-1, which the Spot rules do not cover",
        "future": f"event time {future[:-1]}+00:00 is ",
        "on-demand": "Spot interruption warning for an instance that is not Spot",
    }
    local_system.aws.drain_event_sources(timeout=60)
    rejected_before = sum(support.emf_metric(local_system, "RejectedEvents"))
    cluster.api_server.clear_requests()
    # When they are received
    for event in forged.values():
        support.send_to_queue(local_system, json.dumps(event))
    local_system.aws.drain_event_sources(timeout=60)
    # Then each was rejected once, logged at warning level with its reason, and counted
    for case, event in forged.items():
        lines = support.handler_lines(local_system, event["id"])
        assert [(line["level"], line["result"]) for line in lines] == [("WARNING", "rejected")], (case, lines)
        assert lines[0]["reason"].startswith(expected[case]), (case, lines[0]["reason"])
        assert lines[0]["message"] == f"event rejected: {lines[0]['reason']}"
    assert sum(support.emf_metric(local_system, "RejectedEvents")) == rejected_before + len(forged)
    # And their messages are gone from the queue, none in the DLQ (the queue retries after 1 s here)
    assert support.queued_messages(local_system, "SpotEventQueueUrl") == 0
    assert support.queued_messages(local_system, "SpotDeadLetterQueueUrl") == 0
    # And neither node was touched: no patch, no pods listed, no Kubernetes call for them at all
    for instance in (spot, on_demand):
        name = cluster.kube.node_name(instance.instance_id)
        assert not support.node(cluster, instance)["spec"].get("unschedulable")
        assert [r for r in cluster.api_server.requests if name in r.path or name in str(r.query)] == []
    # And the Spot worker's own warning, through the rule, is still handled: the rejections left no dedup mark
    support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=60)
    assert support.node(cluster, spot)["spec"]["unschedulable"] is True
    assert _pod_lists(cluster, cluster.kube.node_name(spot.instance_id)) == 1


def _spot_control_plane(system: LocalSystem, cluster: LocalCluster) -> str:
    """One more control-plane instance, Spot, from the master group's launch template (so with kOps' master
    tags), in the master ASG, with its node named by the instance id; returns that id."""
    ec2 = system.aws.client("ec2")
    autoscaling = system.aws.client("autoscaling")
    (master,) = cluster.aws.masters
    described = ec2.describe_instances(InstanceIds=[master.instance_id])["Reservations"][0]["Instances"][0]
    template: Any = {"LaunchTemplateId": cluster.aws.launch_template_ids[master.asg_name], "Version": "$Latest"}
    (instance,) = ec2.run_instances(
        LaunchTemplate=template,
        MinCount=1,
        MaxCount=1,
        SubnetId=described["SubnetId"],
        InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}},
    )["Instances"]
    instance_id = instance["InstanceId"]
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[master.asg_name])["AutoScalingGroups"]
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=master.asg_name, MaxSize=group["MaxSize"] + 1)
    autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=master.asg_name)
    store = cluster.api_server.store
    node = copy.deepcopy(store.get("v1/nodes", None, cluster.kube.node_name(master.instance_id)))
    assert node is not None
    node["metadata"] = {"name": instance_id, "labels": node["metadata"].get("labels", {})}
    node["spec"] = {**node["spec"], "providerID": f"aws:///{instance['Placement']['AvailabilityZone']}/{instance_id}"}
    store.create(node)
    return instance_id


def _in_group(system: LocalSystem, asg_name: str, instance_id: str) -> bool:
    groups = system.aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
    return instance_id in {i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]}


def _warning(system: LocalSystem, instance_id: str) -> str:
    (event_id,) = support.put(
        system, spot_event_entry(instance_id=instance_id, region=system.region, account=system.aws.account_id)
    )
    system.aws.drain_event_sources(timeout=60)
    return event_id


@pytest.fixture
def drain_control_plane(local_system: LocalSystem) -> Iterator[None]:
    """spotDrainControlPlane=true on the deployed handler."""
    with support.spot_handler_environment(local_system, **{ENV_SPOT_DRAIN_CONTROL_PLANE: "true"}):
        yield


def test_a_warning_for_a_control_plane_instance_cordons_only_and_never_detaches(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given a Spot instance of the control plane (kOps' master tags), in its ASG, with its node
    instance_id = node_name = _spot_control_plane(local_system, cluster)
    (master,) = cluster.aws.masters
    cluster.api_server.clear_requests()
    # When its interruption warning arrives (configured: drain, and detach for early replacement)
    event_id = _warning(local_system, instance_id)
    # Then the node is cordoned, but not drained: its pods were never listed
    node = cluster.api_server.store.get("v1/nodes", None, node_name)
    assert node is not None and node["spec"]["unschedulable"] is True
    assert _pod_lists(cluster, node_name) == 0
    # And the instance is still in the control plane's ASG
    assert _in_group(local_system, master.asg_name, instance_id)
    # And the outcome says why
    (handled,) = [line for line in support.handler_lines(local_system, event_id) if line.get("result")]
    assert (handled["action"], handled["result"], handled["replacement"]) == ("cordon", "cordoned", "")
    assert "control-plane node: cordoned only (spotDrainControlPlane is off)" in handled["reason"]
    assert "not detached from its ASG" in handled["reason"]


@pytest.mark.usefixtures("drain_control_plane")
def test_spot_drain_control_plane_drains_it_but_still_never_detaches(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    instance_id = node_name = _spot_control_plane(local_system, cluster)
    (master,) = cluster.aws.masters
    cluster.api_server.clear_requests()
    event_id = _warning(local_system, instance_id)
    # Then the node was cordoned and drained (its pods listed once)
    node = cluster.api_server.store.get("v1/nodes", None, node_name)
    assert node is not None and node["spec"]["unschedulable"] is True
    assert _pod_lists(cluster, node_name) == 1
    # And the instance stays in its ASG
    assert _in_group(local_system, master.asg_name, instance_id)
    (handled,) = [line for line in support.handler_lines(local_system, event_id) if line.get("result")]
    assert (handled["action"], handled["result"], handled["replacement"]) == ("drain", "drained", "")
