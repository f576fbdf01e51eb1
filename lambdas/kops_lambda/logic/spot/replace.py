"""Early replacement: take a warned instance out of its Auto Scaling group without lowering the desired
capacity, so the group launches the replacement now instead of after EC2 has terminated the instance."""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors


@dataclass(frozen=True)
class Replacement:
    asg_name: str
    requested: bool
    detail: str  # the scaling activity's description, or why nothing was requested


def request_replacement(autoscaling: Any, *, instance_id: str, asg_name: str) -> Replacement:
    """DetachInstances(ShouldDecrementDesiredCapacity=False). Best effort: refusals come back as a result
    (the instance may be leaving the group already, or the role may not be allowed on this group)."""
    try:
        with translated_aws_errors("detach instance"):
            response = autoscaling.detach_instances(
                InstanceIds=[instance_id], AutoScalingGroupName=asg_name, ShouldDecrementDesiredCapacity=False
            )
    except ClientError as exc:
        return Replacement(asg_name, False, f"detach refused: {error_code(exc)}")
    activities = response.get("Activities") or []
    detail = str(activities[0].get("Description", "")) if activities else "detached"
    return Replacement(asg_name, True, detail)
