"""The AWS tags kOps puts on the resources of a cluster (``pkg/model/awsmodel``, ``awsup`` tag constants)."""

from __future__ import annotations

from kops_local.seed.layout import InstanceGroupPlan
from kops_local.seed.versions import KopsVersion

TAG_CLUSTER = "KubernetesCluster"
TAG_INSTANCE_GROUP = "kops.k8s.io/instancegroup"
TAG_ROLE_NODE = "k8s.io/role/node"
TAG_ROLE_MASTER = "k8s.io/role/master"
TAG_ASG_NAME = "aws:autoscaling:groupName"
_AUTOSCALER_LABEL = "k8s.io/cluster-autoscaler/node-template/label/"


def cluster_owned_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def cluster_tags(cluster: str, name: str) -> dict[str, str]:
    """Tags of every cluster-owned resource (VPC, subnets, security groups, ...)."""
    return {TAG_CLUSTER: cluster, "Name": name, cluster_owned_tag(cluster): "owned"}


def instance_group_tags(cluster: str, group: InstanceGroupPlan, version: KopsVersion) -> dict[str, str]:
    """Tags of an instance group's launch template and ASG, propagated to its instances."""
    tags = cluster_tags(cluster, group.asg_name)
    tags[TAG_INSTANCE_GROUP] = group.name
    tags[TAG_ROLE_MASTER if group.role == "master" else TAG_ROLE_NODE] = "1"
    # Node-template tags let cluster-autoscaler scale an empty group up from zero.
    tags[f"{_AUTOSCALER_LABEL}{TAG_INSTANCE_GROUP}"] = group.name
    tags[f"{_AUTOSCALER_LABEL}kubernetes.io/role"] = group.role
    if group.role == "master":
        tags[f"{_AUTOSCALER_LABEL}node-role.kubernetes.io/master"] = ""
        if version.control_plane_role_label:
            tags[f"{_AUTOSCALER_LABEL}node-role.kubernetes.io/control-plane"] = ""
    else:
        tags[f"{_AUTOSCALER_LABEL}node-role.kubernetes.io/node"] = ""
    return tags
