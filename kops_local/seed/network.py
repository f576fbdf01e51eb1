"""The network of a seeded kOps cluster: VPC, internet gateway, subnets, security groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kops_local.seed.layout import SUBNET_CIDRS, VPC_CIDR, ZONE_COUNT
from kops_local.seed.tags import cluster_tags

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import IpPermissionTypeDef, TagSpecificationTypeDef


def availability_zones(ec2: EC2Client) -> list[str]:
    """The region's first three available zones, in name order (kOps' default zone choice)."""
    zones = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
    names = sorted(z["ZoneName"] for z in zones["AvailabilityZones"] if "ZoneName" in z)
    return names[:ZONE_COUNT]


def tag_specification(resource: ResourceTypeType, tags: dict[str, str]) -> list[TagSpecificationTypeDef]:
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def create_vpc(ec2: EC2Client, cluster: str) -> str:
    """The cluster VPC with DNS support and an attached internet gateway (public topology)."""
    tags = cluster_tags(cluster, cluster)
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=tag_specification("vpc", tags))
    vpc_id = vpc["Vpc"]["VpcId"]
    # kOps needs DNS hostnames for the ip-*.internal node names.
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    gateway = ec2.create_internet_gateway(TagSpecifications=tag_specification("internet-gateway", tags))
    gateway_id = gateway["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
    return vpc_id


def create_subnets(ec2: EC2Client, cluster: str, vpc_id: str, zones: list[str]) -> dict[str, str]:
    """One public subnet per zone, routed to the internet gateway; returns zone -> subnet id."""
    route_table = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=tag_specification("route-table", cluster_tags(cluster, cluster))
    )
    route_table_id = route_table["RouteTable"]["RouteTableId"]
    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
    gateway_id = gateways["InternetGateways"][0]["InternetGatewayId"]
    ec2.create_route(RouteTableId=route_table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id)

    subnet_ids: dict[str, str] = {}
    for zone, cidr in zip(zones, SUBNET_CIDRS, strict=True):
        tags = cluster_tags(cluster, f"{zone}.{cluster}") | {
            "SubnetType": "Public",
            "kubernetes.io/role/elb": "1",
        }
        subnet = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=tag_specification("subnet", tags),
        )
        subnet_ids[zone] = subnet["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=route_table_id, SubnetId=subnet_ids[zone])
    return subnet_ids


def create_security_groups(ec2: EC2Client, cluster: str, vpc_id: str) -> dict[str, str]:
    """``masters.<cluster>`` and ``nodes.<cluster>``; returns "masters"/"nodes" -> group id."""
    groups: dict[str, str] = {}
    for role in ("masters", "nodes"):
        name = f"{role}.{cluster}"
        created = ec2.create_security_group(
            GroupName=name,
            Description=f"Security group for {role}",
            VpcId=vpc_id,
            TagSpecifications=tag_specification("security-group", cluster_tags(cluster, name)),
        )
        groups[role] = created["GroupId"]
    masters, nodes = groups["masters"], groups["nodes"]
    # The kOps baseline: full trust inside each role, masters may reach nodes, nodes reach the API on 443.
    for target, source, protocol, ports in (
        (masters, masters, "-1", None),
        (nodes, nodes, "-1", None),
        (nodes, masters, "-1", None),
        (masters, nodes, "tcp", (443, 443)),
    ):
        permission: IpPermissionTypeDef = {"IpProtocol": protocol, "UserIdGroupPairs": [{"GroupId": source}]}
        if ports is not None:
            permission["FromPort"], permission["ToPort"] = ports
        ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[permission])
    return groups
