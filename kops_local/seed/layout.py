"""Where each instance of a seeded cluster goes: instance groups, zones, lifecycles (no AWS calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kops_local.seed.spec import ClusterSpec

Role = Literal["node", "master"]
Lifecycle = Literal["spot", "on-demand"]

VPC_CIDR = "172.20.0.0/16"
# kOps carves one /19 per zone out of 172.20.0.0/16, starting at .32 (public topology).
SUBNET_CIDRS = ("172.20.32.0/19", "172.20.64.0/19", "172.20.96.0/19")
ZONE_COUNT = len(SUBNET_CIDRS)
CLUSTER_CIDR = "100.96.0.0/11"
SERVICE_CIDR = "100.64.0.0/13"
NON_MASQUERADE_CIDR = "100.64.0.0/10"


@dataclass(frozen=True)
class InstanceGroupPlan:
    """One kOps instance group, which kOps backs with one launch template and one ASG."""

    name: str
    role: Role
    zone: str
    asg_name: str
    machine_type: str
    size: int
    spot: int

    @property
    def kops_role(self) -> str:
        return "Master" if self.role == "master" else "Node"


@dataclass(frozen=True)
class InstancePlan:
    instance_group: InstanceGroupPlan
    lifecycle: Lifecycle


def asg_name(instance_group: str, role: Role, cluster: str) -> str:
    """kOps names ASGs (and launch templates) ``<ig>.<cluster>``, masters ``<ig>.masters.<cluster>``."""
    return f"{instance_group}.masters.{cluster}" if role == "master" else f"{instance_group}.{cluster}"


def machine_types(spec: ClusterSpec) -> tuple[str, str]:
    """(master, node) machine types kOps picks by default."""
    if spec.kops_version.at_least(1, 18):
        return "t3.medium", "t3.medium"
    return "c4.large", "t2.medium"


def plan_instances(spec: ClusterSpec, zones: list[str]) -> list[InstancePlan]:
    """One master in the first zone; workers round-robin over the zones, the first ``on_demand`` on-demand.

    kOps (1.19+) creates one node instance group per zone (``nodes-<zone>``); a zone without workers gets
    no group, like ``kops create cluster --node-count`` smaller than the zone count.
    """
    if len(zones) < ZONE_COUNT:
        raise ValueError(f"a seeded cluster needs {ZONE_COUNT} availability zones, got {zones}")
    zones = zones[:ZONE_COUNT]
    master_type, node_type = machine_types(spec)
    worker_zones = [zones[i % ZONE_COUNT] for i in range(spec.nodes)]
    lifecycles: list[Lifecycle] = ["on-demand" if i < spec.on_demand else "spot" for i in range(spec.nodes)]

    plans: list[InstancePlan] = []
    master_ig = f"master-{zones[0]}"
    master = InstanceGroupPlan(
        name=master_ig,
        role="master",
        zone=zones[0],
        asg_name=asg_name(master_ig, "master", spec.name),
        machine_type=master_type,
        size=1,
        spot=0,
    )
    plans.append(InstancePlan(master, "on-demand"))

    for zone in zones:
        members = [lc for z, lc in zip(worker_zones, lifecycles, strict=True) if z == zone]
        if not members:
            continue
        ig_name = f"nodes-{zone}"
        group = InstanceGroupPlan(
            name=ig_name,
            role="node",
            zone=zone,
            asg_name=asg_name(ig_name, "node", spec.name),
            machine_type=node_type,
            size=len(members),
            spot=members.count("spot"),
        )
        plans.extend(InstancePlan(group, lifecycle) for lifecycle in members)
    return plans


def instance_groups(plans: list[InstancePlan]) -> list[InstanceGroupPlan]:
    """The distinct instance groups of a plan, in plan order."""
    seen: dict[str, InstanceGroupPlan] = {}
    for plan in plans:
        seen.setdefault(plan.instance_group.name, plan.instance_group)
    return list(seen.values())
