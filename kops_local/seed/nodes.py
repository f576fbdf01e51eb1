"""Node objects as the kubelet (with kOps' flags) and kops-controller register them on AWS."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from kops_local.seed.aws import SeededAwsCluster, SeededInstance
from kops_local.seed.spec import ClusterSpec

# (vCPU, memory KiB as the kubelet reports it) for the machine types kOps picks by default.
_CAPACITY = {
    "t3.medium": ("2", 3977908),
    "t3a.medium": ("2", 3977908),
    "t2.medium": ("2", 4037420),
    "c4.large": ("2", 3844360),
}
_DEFAULT_CAPACITY = ("2", 3977908)
# kOps taints (and the authenticator selects) masters by this label on every version seeded here.
MASTER_ROLE_LABEL = "node-role.kubernetes.io/master"


def node_name(spec: ClusterSpec, instance: SeededInstance) -> str:
    """``ip-…internal`` (kubelet --hostname-override=@aws) or the instance id (resource-based naming)."""
    return instance.instance_id if spec.naming == "id" else instance.private_dns_name


def provider_id(instance: SeededInstance) -> str:
    return f"aws:///{instance.az}/{instance.instance_id}"


def node_labels(spec: ClusterSpec, aws: SeededAwsCluster, instance: SeededInstance) -> dict[str, str]:
    version = spec.kops_version
    name = node_name(spec, instance)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": instance.instance_type,
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": aws.region,
        "failure-domain.beta.kubernetes.io/zone": instance.az,
        "kops.k8s.io/instancegroup": instance.instance_group,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/role": instance.role,
    }
    if version.kubernetes_ga_topology_labels:
        labels |= {
            "node.kubernetes.io/instance-type": instance.instance_type,
            "topology.kubernetes.io/region": aws.region,
            "topology.kubernetes.io/zone": instance.az,
        }
    if instance.role == "master":
        labels["node-role.kubernetes.io/master"] = ""
        if version.control_plane_role_label:
            labels["node-role.kubernetes.io/control-plane"] = ""
    else:
        labels["node-role.kubernetes.io/node"] = ""
    if instance.lifecycle == "spot":
        # kops-controller labels Spot nodes since kOps 1.18; before, clusters set an IG nodeLabel.
        if version.labels_spot_nodes:
            labels["node-role.kubernetes.io/spot-worker"] = "true"
        else:
            labels["spot"] = "true"
    return labels


def _stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()))


def _node_info(spec: ClusterSpec, instance: SeededInstance) -> dict[str, str]:
    version = spec.kops_version
    if version.ubuntu_image:
        os_image, kernel = "Ubuntu 20.04.2 LTS", "5.4.0-1045-aws"
    else:
        os_image, kernel = "Debian GNU/Linux 9 (stretch)", "4.9.0-11-amd64"
    runtime = "containerd://1.4.9" if version.containerd_runtime else "docker://19.3.13"
    if not version.at_least(1, 18):
        runtime = "docker://18.6.3"
    kubelet = f"v{version.kubernetes_version}"
    return {
        "architecture": "amd64",
        "bootID": _stable_uuid("boot", instance.instance_id),
        "containerRuntimeVersion": runtime,
        "kernelVersion": kernel,
        "kubeProxyVersion": kubelet,
        "kubeletVersion": kubelet,
        "machineID": hashlib.md5(instance.instance_id.encode(), usedforsecurity=False).hexdigest(),
        "operatingSystem": "linux",
        "osImage": os_image,
        # On EC2 the SMBIOS UUID starts with "ec2".
        "systemUUID": "ec2" + _stable_uuid("system", instance.instance_id)[3:],
    }


def _status(spec: ClusterSpec, instance: SeededInstance, now: str) -> dict[str, Any]:
    cpu, memory_kib = _CAPACITY.get(instance.instance_type, _DEFAULT_CAPACITY)
    capacity = {
        "cpu": cpu,
        "ephemeral-storage": "130045936Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory_kib}Ki",
        "pods": "110",
    }
    allocatable = capacity | {"ephemeral-storage": "119850776788", "memory": f"{memory_kib - 102400}Ki"}

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    conditions = [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status. AppArmor enabled"),
    ]
    if spec.networking != "kubenet":
        # CNIs that manage routes (calico, cilium, ...) clear this condition when they come up.
        conditions.insert(
            0, condition("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route")
        )
    return {
        "addresses": [
            {"type": "InternalIP", "address": instance.private_ip},
            {"type": "Hostname", "address": instance.private_dns_name},
            {"type": "InternalDNS", "address": instance.private_dns_name},
        ],
        "allocatable": allocatable,
        "capacity": capacity,
        "conditions": conditions,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": _node_info(spec, instance),
    }


def node(spec: ClusterSpec, aws: SeededAwsCluster, instance: SeededInstance, *, index: int, now: str) -> dict[str, Any]:
    """The Node for ``instance``; ``index`` picks its pod CIDR out of kOps' 100.96.0.0/11."""
    node_spec: dict[str, Any] = {"providerID": provider_id(instance)}
    if spec.networking != "amazon-vpc-routed-eni":
        # The VPC CNI hands out VPC addresses; every other plugin uses the node's podCIDR.
        node_spec["podCIDR"] = f"100.96.{index}.0/24"
        node_spec["podCIDRs"] = [node_spec["podCIDR"]]
    if instance.role == "master":
        node_spec["taints"] = [{"key": MASTER_ROLE_LABEL, "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node_name(spec, instance),
            "labels": node_labels(spec, aws, instance),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": node_spec,
        "status": _status(spec, instance, now),
    }
