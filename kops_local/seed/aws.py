"""The AWS side of a seeded kOps cluster, created the way ``kops update cluster --yes`` does.

Works against any EC2/Auto Scaling/S3 endpoint (moto in-process or a moto server): the clients are
passed in. Instances are started with ``run_instances`` from the group's launch template (so Spot ones
get ``InstanceLifecycle=spot``) and then attached to their ASG, which tags them
``aws:autoscaling:groupName`` and lets a later detach (without decrement) launch a replacement.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from kops_local.seed.addons import addon_versions
from kops_local.seed.layout import (
    InstanceGroupPlan,
    InstancePlan,
    Lifecycle,
    Role,
    instance_groups,
    plan_instances,
)
from kops_local.seed.network import (
    availability_zones,
    create_security_groups,
    create_subnets,
    create_vpc,
    tag_specification,
)
from kops_local.seed.spec import ClusterSpec
from kops_local.seed.statestore import (
    cluster_document,
    ensure_bucket,
    instance_group_document,
    state_store_objects,
    write_objects,
)
from kops_local.seed.tags import cluster_owned_tag, instance_group_tags
from kops_local.seed.userdata import nodeup_script

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_autoscaling.type_defs import (
        LaunchTemplateSpecificationTypeDef,
        MixedInstancesPolicyTypeDef,
    )
    from mypy_boto3_autoscaling.type_defs import TagTypeDef as AsgTagTypeDef
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import (
        LaunchTemplateSpecificationTypeDef as Ec2LaunchTemplateSpecificationTypeDef,
    )
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class SeededInstance:
    instance_id: str
    az: str
    private_ip: str
    private_dns_name: str
    lifecycle: Lifecycle
    role: Role
    instance_group: str
    asg_name: str
    instance_type: str


@dataclass(frozen=True)
class SeededAwsCluster:
    name: str
    spec: ClusterSpec
    region: str
    account_id: str
    vpc_id: str
    subnet_ids: dict[str, str] = field(hash=False)  # availability zone -> subnet id
    security_group_ids: dict[str, str] = field(hash=False)  # "masters" / "nodes" -> group id
    asg_names: tuple[str, ...]
    launch_template_ids: dict[str, str] = field(hash=False)  # ASG name -> launch template id
    instances: tuple[SeededInstance, ...]
    state_store: str  # s3://<bucket>/<cluster>

    @property
    def state_store_bucket(self) -> str:
        return self.state_store.removeprefix("s3://").split("/", 1)[0]

    @property
    def workers(self) -> tuple[SeededInstance, ...]:
        return tuple(i for i in self.instances if i.role == "node")

    @property
    def masters(self) -> tuple[SeededInstance, ...]:
        return tuple(i for i in self.instances if i.role == "master")

    @property
    def node_role_arn(self) -> str:
        """The IAM role kOps gives worker instances (``nodes.<cluster>``)."""
        return f"arn:aws:iam::{self.account_id}:role/nodes.{self.name}"

    @property
    def master_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/masters.{self.name}"

    def instance(self, instance_id: str) -> SeededInstance:
        for candidate in self.instances:
            if candidate.instance_id == instance_id:
                return candidate
        raise KeyError(instance_id)


def seed_aws(
    *,
    ec2: EC2Client,
    autoscaling: AutoScalingClient,
    s3: S3Client,
    spec: ClusterSpec,
    region: str,
    state_store_bucket: str,
    shared_network: SeededAwsCluster | None = None,
) -> SeededAwsCluster:
    """Create the VPC, subnets, security groups, launch templates, ASGs, instances and state store.

    With `shared_network`, the cluster goes into that cluster's VPC and subnets (kOps' shared VPC: the subnets
    are tagged `kubernetes.io/cluster/<name>=shared`, the VPC stays the other cluster's) with its own groups.
    """
    zones = availability_zones(ec2)
    config_base = f"s3://{state_store_bucket}/{spec.name}"
    if shared_network is None:
        vpc_id = create_vpc(ec2, spec.name)
        subnet_ids = create_subnets(ec2, spec.name, vpc_id, zones)
    else:
        vpc_id, subnet_ids = shared_network.vpc_id, dict(shared_network.subnet_ids)
        ec2.create_tags(
            Resources=list(subnet_ids.values()),
            Tags=[{"Key": cluster_owned_tag(spec.name), "Value": "shared"}],
        )
    security_groups = create_security_groups(ec2, spec.name, vpc_id)

    plans = plan_instances(spec, zones)
    groups = instance_groups(plans)
    launch_templates: dict[str, str] = {}
    instances: list[SeededInstance] = []
    account_id = ""
    for group in groups:
        group_sg = security_groups["masters" if group.role == "master" else "nodes"]
        launch_templates[group.asg_name] = _create_launch_template(
            ec2, spec, group, security_group=group_sg, region=region, config_base=config_base
        )
        _create_asg(autoscaling, spec, group, launch_templates[group.asg_name], subnet_ids[group.zone])
        members = [plan for plan in plans if plan.instance_group is group]
        started, account_id = _start_instances(ec2, members, launch_templates[group.asg_name], subnet_ids)
        autoscaling.attach_instances(AutoScalingGroupName=group.asg_name, InstanceIds=[i.instance_id for i in started])
        # kOps groups are fixed-size (minSize == maxSize); raise the minimum once the instances are in.
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=group.asg_name, MinSize=group.size, MaxSize=group.size
        )
        instances.extend(started)

    _write_state_store(
        s3,
        spec,
        region=region,
        bucket=state_store_bucket,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        groups=groups,
        account_id=account_id,
    )
    return SeededAwsCluster(
        name=spec.name,
        spec=spec,
        region=region,
        account_id=account_id,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_ids=security_groups,
        asg_names=tuple(group.asg_name for group in groups),
        launch_template_ids=launch_templates,
        instances=tuple(instances),
        state_store=config_base,
    )


def _ami_id(image: str) -> str:
    # A stable stand-in id for kOps' default image (moto accepts any well-formed AMI id).
    return "ami-" + hashlib.sha256(image.encode()).hexdigest()[:17]


def _create_launch_template(
    ec2: EC2Client,
    spec: ClusterSpec,
    group: InstanceGroupPlan,
    *,
    security_group: str,
    region: str,
    config_base: str,
) -> str:
    tags = instance_group_tags(spec.name, group, spec.kops_version)
    user_data = nodeup_script(spec, group, region=region, config_base=config_base)
    created = ec2.create_launch_template(
        LaunchTemplateName=group.asg_name,
        LaunchTemplateData={
            "ImageId": _ami_id(spec.kops_version.image),
            "InstanceType": cast("InstanceTypeType", group.machine_type),
            "SecurityGroupIds": [security_group],
            "UserData": base64.b64encode(user_data.encode()).decode(),
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/sda1",
                    "Ebs": {
                        "VolumeSize": 64 if group.role == "master" else 128,
                        "VolumeType": "gp3" if spec.kops_version.at_least(1, 19) else "gp2",
                        "DeleteOnTermination": True,
                    },
                }
            ],
            "MetadataOptions": {"HttpPutResponseHopLimit": 1, "HttpTokens": "optional"},
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
                {"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
            ],
        },
        TagSpecifications=tag_specification("launch-template", tags),
    )
    return created["LaunchTemplate"]["LaunchTemplateId"]


def _create_asg(
    autoscaling: AutoScalingClient,
    spec: ClusterSpec,
    group: InstanceGroupPlan,
    launch_template: str,
    subnet: str,
) -> None:
    """An empty ASG (desired 0); the instances are attached once started, then the size is fixed."""
    tags: list[AsgTagTypeDef] = [
        {
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": True,
            "ResourceId": group.asg_name,
            "ResourceType": "auto-scaling-group",
        }
        for key, value in instance_group_tags(spec.name, group, spec.kops_version).items()
    ]
    template: LaunchTemplateSpecificationTypeDef = {"LaunchTemplateId": launch_template, "Version": "$Latest"}
    if not group.spot:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group.asg_name,
            MinSize=0,
            MaxSize=group.size,
            DesiredCapacity=0,
            VPCZoneIdentifier=subnet,
            Tags=tags,
            LaunchTemplate=template,
        )
        return
    # kOps mixes on-demand and Spot in one group: onDemandBase on-demand instances, the rest Spot.
    alternative = group.machine_type.replace("t3.", "t3a.").replace("t2.", "t3.")
    policy: MixedInstancesPolicyTypeDef = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": template,
            "Overrides": [{"InstanceType": group.machine_type}, {"InstanceType": alternative}],
        },
        "InstancesDistribution": {
            "OnDemandBaseCapacity": group.size - group.spot,
            "OnDemandPercentageAboveBaseCapacity": 0,
            "SpotAllocationStrategy": "capacity-optimized",
        },
    }
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group.asg_name,
        MinSize=0,
        MaxSize=group.size,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        Tags=tags,
        MixedInstancesPolicy=policy,
    )


def _start_instances(
    ec2: EC2Client, members: list[InstancePlan], launch_template: str, subnet_ids: dict[str, str]
) -> tuple[list[SeededInstance], str]:
    started: list[SeededInstance] = []
    account_id = ""
    for lifecycle in ("on-demand", "spot"):
        count = sum(1 for m in members if m.lifecycle == lifecycle)
        if count == 0:
            continue
        group = members[0].instance_group
        template: Ec2LaunchTemplateSpecificationTypeDef = {
            "LaunchTemplateId": launch_template,
            "Version": "$Latest",
        }
        subnet = subnet_ids[group.zone]
        if lifecycle == "spot":
            # A one-time Spot request: the instance comes back with InstanceLifecycle=spot.
            reservation = ec2.run_instances(
                LaunchTemplate=template,
                MinCount=count,
                MaxCount=count,
                SubnetId=subnet,
                InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}},
            )
        else:
            reservation = ec2.run_instances(LaunchTemplate=template, MinCount=count, MaxCount=count, SubnetId=subnet)
        account_id = reservation["OwnerId"]
        for instance in reservation["Instances"]:
            started.append(
                SeededInstance(
                    instance_id=instance["InstanceId"],
                    az=instance["Placement"]["AvailabilityZone"],
                    private_ip=instance["PrivateIpAddress"],
                    private_dns_name=instance["PrivateDnsName"],
                    lifecycle="spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
                    role=group.role,
                    instance_group=group.name,
                    asg_name=group.asg_name,
                    instance_type=instance["InstanceType"],
                )
            )
    return started, account_id


def _write_state_store(
    s3: S3Client,
    spec: ClusterSpec,
    *,
    region: str,
    bucket: str,
    vpc_id: str,
    subnet_ids: dict[str, str],
    groups: list[InstanceGroupPlan],
    account_id: str,
) -> None:
    created = datetime.now(UTC).replace(microsecond=0)
    master = next(group for group in groups if group.role == "master")
    cluster = cluster_document(
        spec,
        config_base=f"s3://{bucket}/{spec.name}",
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        master_group=master,
        created=created,
        account_id=account_id,
    )
    objects = state_store_objects(
        spec,
        cluster=cluster,
        instance_groups=[instance_group_document(spec, group, created=created) for group in groups],
        addons=addon_versions(spec),
    )
    ensure_bucket(s3, bucket, region)
    write_objects(s3, bucket, objects)
