"""Auto Scaling's termination lifecycle actions on the local endpoint (moto keeps hooks only): a pending action
is completed or sent heartbeats only with its group, hook, instance and token, as Auto Scaling answers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kops_local.aws import LocalAws
from tests.local_aws.conftest import unique


def _group_with_hook(local_aws: LocalAws, hook: str) -> tuple[str, str]:
    ec2: Any = local_aws.client("ec2")
    autoscaling: Any = local_aws.client("autoscaling")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    name = unique("asg")
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.medium"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=[f"{local_aws.region}a"],
    )
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=name,
        LifecycleHookName=hook,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
        DefaultResult="CONTINUE",
    )
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return name, group["Instances"][0]["InstanceId"]


def test_a_pending_action_takes_heartbeats_then_one_completion(local_aws: LocalAws) -> None:
    # Given an instance held by its group's termination hook
    asg, instance = _group_with_hook(local_aws, "drain")
    account = local_aws.client("sts").get_caller_identity()["Account"]
    entry = local_aws.lifecycle_actions.begin(
        account=account, region=local_aws.region, asg_name=asg, hook_name="drain", instance_id=instance
    )
    detail = json.loads(entry["Detail"])
    assert (entry["Source"], entry["DetailType"]) == ("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action")
    assert (detail["AutoScalingGroupName"], detail["EC2InstanceId"]) == (asg, instance)
    params = {
        "AutoScalingGroupName": asg,
        "LifecycleHookName": "drain",
        "LifecycleActionToken": detail["LifecycleActionToken"],
        "InstanceId": instance,
    }
    autoscaling: Any = local_aws.client("autoscaling")
    # When heartbeats are sent and the action is completed
    autoscaling.record_lifecycle_action_heartbeat(**params)
    autoscaling.record_lifecycle_action_heartbeat(**params)
    autoscaling.complete_lifecycle_action(**params, LifecycleActionResult="CONTINUE")
    # Then both were recorded, and the action is no longer pending: a second completion is refused
    action = local_aws.lifecycle_actions.get(detail["LifecycleActionToken"])
    assert (action.heartbeats, action.result) == (2, "CONTINUE")
    with pytest.raises(ClientError) as refused:
        autoscaling.complete_lifecycle_action(**params, LifecycleActionResult="CONTINUE")
    assert refused.value.response["Error"]["Code"] == "ValidationError"


@pytest.mark.parametrize("wrong", ["AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "InstanceId"])
def test_a_completion_naming_anything_else_is_refused(local_aws: LocalAws, wrong: str) -> None:
    asg, instance = _group_with_hook(local_aws, "drain")
    account = local_aws.client("sts").get_caller_identity()["Account"]
    entry = local_aws.lifecycle_actions.begin(
        account=account, region=local_aws.region, asg_name=asg, hook_name="drain", instance_id=instance
    )
    token = json.loads(entry["Detail"])["LifecycleActionToken"]
    params = {
        "AutoScalingGroupName": asg,
        "LifecycleHookName": "drain",
        "LifecycleActionToken": token,
        "InstanceId": instance,
    }
    others = {"InstanceId": "i-0000000000000000f", "LifecycleActionToken": str(uuid.uuid4())}
    params[wrong] = others.get(wrong, "other")
    with pytest.raises(ClientError) as refused:
        local_aws.client("autoscaling").complete_lifecycle_action(**params, LifecycleActionResult="CONTINUE")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert local_aws.lifecycle_actions.get(token).result is None


def test_an_action_begins_only_for_a_termination_hook_of_the_group(local_aws: LocalAws) -> None:
    asg, instance = _group_with_hook(local_aws, "drain")
    account = local_aws.client("sts").get_caller_identity()["Account"]
    with pytest.raises(ValueError, match="no termination lifecycle hook other"):
        local_aws.lifecycle_actions.begin(
            account=account, region=local_aws.region, asg_name=asg, hook_name="other", instance_id=instance
        )
