"""The kOps state store of a seeded cluster: the S3 objects ``kops create/update cluster`` writes.

Layout (kOps ``docs/state.md``, ``pkg/apis/kops/registry``): ``<cluster>/config`` holds the Cluster
spec as the user wrote it, ``<cluster>/cluster.spec`` the completed spec, ``<cluster>/instancegroup/<ig>``
one InstanceGroup each, ``<cluster>/addons/bootstrap-channel.yaml`` the addon channel, and, since
kOps 1.19 (kops#9362), ``<cluster>/kops-version.txt`` with the kOps release that last updated it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import yaml

from kops_local.seed.authenticator import kops_identity_mappings
from kops_local.seed.layout import (
    NON_MASQUERADE_CIDR,
    SERVICE_CIDR,
    SUBNET_CIDRS,
    VPC_CIDR,
    InstanceGroupPlan,
)
from kops_local.seed.spec import ClusterSpec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

API_VERSION = "kops.k8s.io/v1alpha2"

# spec.networking key per CNI, as in kOps' NetworkingSpec.
_NETWORKING_SPEC: dict[str, tuple[str, dict[str, Any]]] = {
    "calico": ("calico", {"majorVersion": "v3"}),
    "kube-router": ("kuberouter", {}),
    "cilium": ("cilium", {}),
    "weave": ("weave", {}),
    "flannel": ("flannel", {"backend": "vxlan"}),
    "amazon-vpc-routed-eni": ("amazonvpc", {}),
    "kubenet": ("kubenet", {}),
}


class _NoAliasDumper(yaml.SafeDumper):
    """kOps writes plain YAML; never emit &anchors for repeated sub-objects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False)


def _timestamp(created: datetime) -> str:
    return created.strftime("%Y-%m-%dT%H:%M:%SZ")


def _authentication(spec: ClusterSpec, account_id: str) -> dict[str, Any] | None:
    if spec.auth == "none":
        return None
    if not spec.kops_version.has_authenticator_backend_mode:
        # Before kOps 1.19 the authenticator always read the mounted aws-iam-authenticator ConfigMap.
        return {"aws": {}}
    if spec.auth == "crd":
        # kOps turns identityMappings into IAMIdentityMapping objects named iam-identity-mapping-<n>.
        return {"aws": {"backendMode": "CRD", "identityMappings": kops_identity_mappings(account_id)}}
    backend = "EKSConfigMap" if spec.auth == "eksconfigmap" else "MountedFile"
    return {"aws": {"backendMode": backend}}


def cluster_document(
    spec: ClusterSpec,
    *,
    config_base: str,
    vpc_id: str,
    subnet_ids: dict[str, str],
    master_group: InstanceGroupPlan,
    created: datetime,
    account_id: str,
) -> dict[str, Any]:
    """The Cluster object of ``<cluster>/config``."""
    version = spec.kops_version
    networking_key, networking_value = _NETWORKING_SPEC[spec.networking]
    cluster_spec: dict[str, Any] = {
        "api": {"loadBalancer": {"type": "Public"}} if spec.name.endswith(".k8s.local") else {"dns": {}},
    }
    authentication = _authentication(spec, account_id)
    if authentication is not None:
        cluster_spec["authentication"] = authentication
    cluster_spec |= {
        "authorization": {"rbac": {}},
        "channel": "stable",
        "cloudProvider": "aws",
        "configBase": config_base,
        "etcdClusters": [
            {
                "cpuRequest": "200m",
                "etcdMembers": [{"instanceGroup": master_group.name, "name": master_group.zone[-1]}],
                "memoryRequest": "100Mi",
                "name": name,
            }
            for name in ("main", "events")
        ],
        "iam": {"allowContainerRegistry": True, "legacy": False},
        "kubelet": {"anonymousAuth": False},
        "kubernetesApiAccess": ["0.0.0.0/0"],
        "kubernetesVersion": version.kubernetes_version,
        "masterPublicName": f"api.{spec.name}",
        "networkCIDR": VPC_CIDR,
        "networkID": vpc_id,
        "networking": {networking_key: networking_value},
        "nonMasqueradeCIDR": NON_MASQUERADE_CIDR,
        "sshAccess": ["0.0.0.0/0"],
        "subnets": [
            {"cidr": cidr, "id": subnet_ids[zone], "name": zone, "type": "Public", "zone": zone}
            for zone, cidr in zip(subnet_ids, SUBNET_CIDRS, strict=False)
        ],
        "topology": {"dns": {"type": "Public"}, "masters": "public", "nodes": "public"},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"creationTimestamp": _timestamp(created), "name": spec.name},
        "spec": cluster_spec,
    }


def completed_cluster_document(cluster: dict[str, Any], spec: ClusterSpec) -> dict[str, Any]:
    """``cluster.spec``: the Cluster with the defaults kOps fills in on ``update cluster``."""
    completed = copy.deepcopy(cluster)
    version = spec.kops_version
    completed["spec"] |= {
        "containerRuntime": "containerd" if version.containerd_runtime else "docker",
        "kubeProxy": {
            "clusterCIDR": "100.96.0.0/11",
            "enabled": True,
            "image": f"k8s.gcr.io/kube-proxy:v{version.kubernetes_version}",
        },
        "masterInternalName": f"api.internal.{spec.name}",
        "serviceClusterIPRange": SERVICE_CIDR,
    }
    return completed


def instance_group_document(spec: ClusterSpec, group: InstanceGroupPlan, *, created: datetime) -> dict[str, Any]:
    """The InstanceGroup object of ``<cluster>/instancegroup/<ig>``."""
    ig_spec: dict[str, Any] = {
        "image": spec.kops_version.image,
        "machineType": group.machine_type,
        "maxSize": group.size,
        "minSize": group.size,
    }
    if group.spot:
        # kOps mixes on-demand and Spot in one group through the ASG's MixedInstancesPolicy.
        ig_spec["mixedInstancesPolicy"] = {
            "instances": [
                group.machine_type,
                group.machine_type.replace("t3.", "t3a.").replace("t2.", "t3."),
            ],
            "onDemandAboveBase": 0,
            "onDemandBase": group.size - group.spot,
            "spotAllocationStrategy": "capacity-optimized",
        }
    ig_spec |= {
        "nodeLabels": {"kops.k8s.io/instancegroup": group.name},
        "role": group.kops_role,
        "subnets": [group.zone],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "InstanceGroup",
        "metadata": {
            "creationTimestamp": _timestamp(created),
            "labels": {"kops.k8s.io/cluster": spec.name},
            "name": group.name,
        },
        "spec": ig_spec,
    }


def bootstrap_channel(spec: ClusterSpec, addons: dict[str, str]) -> dict[str, Any]:
    """``addons/bootstrap-channel.yaml``: the addons the channels tool applies, by name and version."""
    return {
        "kind": "Addons",
        "metadata": {"name": "bootstrap"},
        "spec": {
            "addons": [
                {
                    "name": name,
                    "version": version,
                    "selector": {"k8s-addon": name},
                    "manifest": f"{name}/k8s-1.12.yaml",
                }
                for name, version in addons.items()
            ]
        },
    }


def state_store_objects(
    spec: ClusterSpec,
    *,
    cluster: dict[str, Any],
    instance_groups: list[dict[str, Any]],
    addons: dict[str, str],
) -> dict[str, str]:
    """Object key (relative to the bucket) → content, for everything the state store holds."""
    prefix = spec.name
    objects = {
        f"{prefix}/config": _dump(cluster),
        f"{prefix}/cluster.spec": _dump(completed_cluster_document(cluster, spec)),
        f"{prefix}/addons/bootstrap-channel.yaml": _dump(bootstrap_channel(spec, addons)),
    }
    for group in instance_groups:
        objects[f"{prefix}/instancegroup/{group['metadata']['name']}"] = _dump(group)
    if spec.kops_version.writes_kops_version_txt:
        objects[f"{prefix}/kops-version.txt"] = spec.kops_version.release
    return objects


def ensure_bucket(s3: S3Client, bucket: str, region: str) -> None:
    """Create the state store bucket (versioned, as kOps recommends) unless it already exists."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", []) if "Name" in b}
    if bucket in existing:
        return
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        location = cast("BucketLocationConstraintType", region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": location})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def write_objects(s3: S3Client, bucket: str, objects: dict[str, str]) -> None:
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ServerSideEncryption="AES256")
