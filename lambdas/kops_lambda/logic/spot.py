"""Spot interruption handling: instance -> cluster -> node, then cordon and taint in one patch."""

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.kube import REQUEST_TIMEOUT, translated_kube_errors
from kops_lambda.constants import (
    EXCLUDE_FROM_LB_LABEL,
    KOPS_TAG_CLUSTER,
    KOPS_TAG_CLUSTER_OWNED_PREFIX,
    SPOT_TAINT_KEY,
)


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    availability_zone: str
    private_dns_name: str
    cluster_name: str | None


@dataclass(frozen=True)
class CordonResult:
    node_name: str
    already_cordoned: bool


def describe_instance(ec2: Any, instance_id: str) -> InstanceInfo | None:
    """The instance's AZ, DNS name and kOps cluster (from its tags); None when it no longer exists."""
    with translated_aws_errors("describe instance"):
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ec2.exceptions.ClientError as exc:
            if "InvalidInstanceID" in str(exc.response.get("Error", {}).get("Code", "")):
                return None
            raise
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        return None
    instance = instances[0]
    return InstanceInfo(
        instance_id=instance_id,
        availability_zone=instance["Placement"]["AvailabilityZone"],
        private_dns_name=instance.get("PrivateDnsName", ""),
        cluster_name=cluster_of(instance.get("Tags", [])),
    )


def cluster_of(tags: list[dict[str, str]]) -> str | None:
    """kOps tags instances with KubernetesCluster=<name> and kubernetes.io/cluster/<name>=owned."""
    by_key = {t["Key"]: t.get("Value", "") for t in tags}
    if by_key.get(KOPS_TAG_CLUSTER):
        return by_key[KOPS_TAG_CLUSTER]
    for key, value in by_key.items():
        if key.startswith(KOPS_TAG_CLUSTER_OWNED_PREFIX) and value == "owned":
            return key.removeprefix(KOPS_TAG_CLUSTER_OWNED_PREFIX)
    return None


def provider_id(instance: InstanceInfo) -> str:
    return f"aws:///{instance.availability_zone}/{instance.instance_id}"


def find_node(core: k8s.CoreV1Api, instance: InstanceInfo) -> dict[str, Any] | None:
    """The node whose spec.providerID is the instance's.

    Tries the names kOps gives nodes (private DNS name, or instance id) with one GET each and
    verifies the providerID; falls back to listing nodes, since node names are not reliable.
    """
    wanted = provider_id(instance)
    for candidate in dict.fromkeys(n for n in (instance.private_dns_name, instance.instance_id) if n):
        node = _get_node(core, candidate)
        if node is not None and node.get("spec", {}).get("providerID") == wanted:
            return node
    with translated_kube_errors("list nodes"):
        nodes = core.list_node(_preload_content=False, _request_timeout=REQUEST_TIMEOUT)
    for node in _json(nodes).get("items", []):
        if node.get("spec", {}).get("providerID") == wanted:
            return dict(node)
    return None


def cordon_and_taint(
    core: k8s.CoreV1Api, node: dict[str, Any], *, event_id: str, effect: str = "NoSchedule"
) -> CordonResult:
    """One merge patch: unschedulable, our taint carrying the event id, and out of external LBs."""
    name = node["metadata"]["name"]
    spec = node.get("spec", {})
    taints = [t for t in spec.get("taints") or [] if t.get("key") != SPOT_TAINT_KEY]
    already = bool(spec.get("unschedulable")) and len(taints) != len(spec.get("taints") or [])
    taints.append({"key": SPOT_TAINT_KEY, "value": event_id[:63], "effect": effect})
    patch = {
        # Merge patch replaces lists: the read resourceVersion makes a concurrent taint edit a 409, not a loss.
        "metadata": {
            "resourceVersion": node["metadata"]["resourceVersion"],
            "labels": {EXCLUDE_FROM_LB_LABEL: "true"},
        },
        "spec": {"unschedulable": True, "taints": taints},
    }
    with translated_kube_errors("cordon node"):
        core.api_client.call_api(
            "/api/v1/nodes/{name}",
            "PATCH",
            path_params={"name": name},
            header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
            body=patch,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    return CordonResult(node_name=name, already_cordoned=already)


def _get_node(core: k8s.CoreV1Api, name: str) -> dict[str, Any] | None:
    try:
        with translated_kube_errors("get node"):
            response = core.read_node(name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return _json(response)


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data
