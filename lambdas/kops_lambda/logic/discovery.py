"""Discover a kOps cluster in an account: network, instance groups and kOps version."""

from typing import Any, Literal

import yaml
from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import KOPS_TAG_CLUSTER, KOPS_TAG_INSTANCE_GROUP, KOPS_TAG_ROLE_PREFIX
from kops_lambda.errors import ClusterNotFound, KopsVersionUnknown
from kops_lambda.logic.kops_version import ensure_supported, parse_version_text, version_from_user_data
from kops_lambda.models.onboarding import ClusterFacts, InstanceGroupFacts

_LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def discover_cluster(
    *, ec2: Any, autoscaling: Any, s3: Any, cluster_name: str, region: str, state_store: str | None
) -> ClusterFacts:
    """Validate that the cluster exists and runs a supported kOps version; return what we found."""
    cluster_filter = [{"Name": f"tag:{KOPS_TAG_CLUSTER}", "Values": [cluster_name]}]
    with translated_aws_errors("discover cluster"):
        instances = _cluster_instances(ec2, cluster_filter)
        asgs = _cluster_asgs(autoscaling, cluster_name)
        if not instances and not asgs:
            raise ClusterNotFound(f"no kOps cluster named {cluster_name!r} in {region}")
        vpc_id = _vpc_id(ec2, cluster_filter, instances)
        vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        subnets = ec2.describe_subnets(Filters=cluster_filter)["Subnets"]
        groups = ec2.describe_security_groups(Filters=cluster_filter)["SecurityGroups"]
        spec = _state_store_object(s3, state_store, cluster_name, "config")
        version, source = _kops_version(
            ec2=ec2, autoscaling=autoscaling, s3=s3, state_store=state_store, cluster_name=cluster_name, asgs=asgs
        )
    return ClusterFacts(
        cluster_name=cluster_name,
        region=region,
        vpc_id=vpc_id,
        vpc_cidr=vpc["CidrBlock"],
        subnet_ids=sorted(s["SubnetId"] for s in subnets),
        security_group_ids=sorted(g["GroupId"] for g in groups),
        instance_groups=[_instance_group(asg) for asg in asgs],
        kops_version=ensure_supported(version),
        kops_version_source=source,
        networking=_networking(spec),
    )


def _cluster_instances(ec2: Any, cluster_filter: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filters = [*cluster_filter, {"Name": "instance-state-name", "Values": _LIVE_STATES}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _cluster_asgs(autoscaling: Any, cluster_name: str) -> list[dict[str, Any]]:
    pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
        Filters=[{"Name": f"tag:{KOPS_TAG_CLUSTER}", "Values": [cluster_name]}]
    )
    asgs = [g for page in pages for g in page["AutoScalingGroups"]]
    return sorted(asgs, key=lambda g: str(g["AutoScalingGroupName"]))


def _vpc_id(ec2: Any, cluster_filter: list[dict[str, Any]], instances: list[dict[str, Any]]) -> str:
    vpcs = ec2.describe_vpcs(Filters=cluster_filter)["Vpcs"]
    if vpcs:
        return str(vpcs[0]["VpcId"])
    # A shared VPC is not tagged by kOps: take it from the cluster's instances.
    for instance in instances:
        if instance.get("VpcId"):
            return str(instance["VpcId"])
    raise ClusterNotFound("the cluster has neither a tagged VPC nor instances in one")


def _instance_group(asg: dict[str, Any]) -> InstanceGroupFacts:
    tags = {t["Key"]: t.get("Value", "") for t in asg.get("Tags", [])}
    role: Literal["node", "master"] = "master" if f"{KOPS_TAG_ROLE_PREFIX}master" in tags else "node"
    return InstanceGroupFacts(
        name=tags.get(KOPS_TAG_INSTANCE_GROUP, asg["AutoScalingGroupName"].split(".")[0]),
        asg_name=asg["AutoScalingGroupName"],
        role=role,
        min_size=asg["MinSize"],
        max_size=asg["MaxSize"],
        desired_capacity=asg["DesiredCapacity"],
        instance_ids=sorted(i["InstanceId"] for i in asg.get("Instances", [])),
    )


def _state_store_object(s3: Any, state_store: str | None, cluster_name: str, key: str) -> str | None:
    if not state_store:
        return None
    bucket, _, prefix = state_store.removeprefix("s3://").partition("/")
    object_key = "/".join(part for part in (prefix, cluster_name, key) if part)
    try:
        body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NoSuchBucket", "AccessDenied"}:
            return None
        raise
    return str(body.decode("utf-8", errors="replace"))


def _kops_version(
    *,
    ec2: Any,
    autoscaling: Any,
    s3: Any,
    state_store: str | None,
    cluster_name: str,
    asgs: list[dict[str, Any]],
) -> tuple[str, Any]:
    text = _state_store_object(s3, state_store, cluster_name, "kops-version.txt")
    version = parse_version_text(text) if text else None
    if version:
        return version, "state-store"
    for asg in asgs:
        user_data = _launch_user_data(ec2, autoscaling, asg)
        version = version_from_user_data(user_data) if user_data else None
        if version:
            return version, "user-data"
    raise KopsVersionUnknown(
        f"cannot tell the kOps version of {cluster_name!r}: no kops-version.txt in the state store "
        "and no nodeup URL in the launch user data; pass state_store in the input"
    )


def _launch_user_data(ec2: Any, autoscaling: Any, asg: dict[str, Any]) -> str | None:
    template = asg.get("LaunchTemplate") or (
        asg.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    )
    if template:
        selector = {"Versions": [str(template.get("Version") or "$Default")]}
        if template.get("LaunchTemplateId"):
            selector["LaunchTemplateId"] = template["LaunchTemplateId"]
        else:
            selector["LaunchTemplateName"] = template["LaunchTemplateName"]
        versions = ec2.describe_launch_template_versions(**selector)["LaunchTemplateVersions"]
        return versions[0]["LaunchTemplateData"].get("UserData") if versions else None
    if asg.get("LaunchConfigurationName"):
        configs = autoscaling.describe_launch_configurations(LaunchConfigurationNames=[asg["LaunchConfigurationName"]])[
            "LaunchConfigurations"
        ]
        return configs[0].get("UserData") if configs else None
    return None


def _networking(spec_text: str | None) -> str | None:
    if not spec_text:
        return None
    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return None
    networking = (spec or {}).get("spec", {}).get("networking") if isinstance(spec, dict) else None
    if isinstance(networking, dict) and networking:
        return str(next(iter(networking)))
    return None
