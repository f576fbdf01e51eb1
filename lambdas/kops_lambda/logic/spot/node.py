"""Instance -> cluster -> node, and the one patch that takes the node out of service."""

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.kube import MERGE_PATCH, KubeApiError, KubeClient, send, translated_kube_errors
from kops_lambda.constants import (
    ASG_NAME_TAG,
    EXCLUDE_FROM_LB_LABEL,
    KOPS_CONTROL_PLANE_ROLE_TAGS,
    KOPS_TAG_CLUSTER,
    KOPS_TAG_CLUSTER_OWNED_PREFIX,
    OUT_OF_SERVICE_TAINT_KEY,
    OUT_OF_SERVICE_TAINT_VALUE,
    SPOT_TAINT_KEY,
)
from kops_lambda.settings import SpotAction

NodeNaming = Literal["dns", "id"]
# Strongest last: a later, weaker event (a rebalance after the warning) never relaxes our taint.
_EFFECT_STRENGTH = {"PreferNoSchedule": 0, "NoSchedule": 1, "NoExecute": 2}


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    availability_zone: str
    private_dns_name: str
    cluster_name: str | None
    asg_name: str | None = None
    spot: bool = False  # EC2's InstanceLifecycle, not the event's word for it
    control_plane: bool = False  # of a kOps master/control-plane instance group (its role tags)


def describe_instance(ec2: Any, instance_id: str) -> InstanceInfo | None:
    """The instance's AZ, DNS name, kOps cluster, ASG and role (from its tags) and whether it is a Spot
    instance; None when it no longer exists."""
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
    tags = instance.get("Tags", [])
    return InstanceInfo(
        instance_id=instance_id,
        availability_zone=instance["Placement"]["AvailabilityZone"],
        private_dns_name=instance.get("PrivateDnsName", ""),
        cluster_name=cluster_of(tags),
        asg_name=next((t.get("Value") for t in tags if t["Key"] == ASG_NAME_TAG), None) or None,
        spot=instance.get("InstanceLifecycle") == "spot",
        control_plane=any(t["Key"] in KOPS_CONTROL_PLANE_ROLE_TAGS for t in tags),
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


def find_node(
    core: KubeClient, instance: InstanceInfo, *, prefer: NodeNaming = "dns"
) -> tuple[dict[str, Any], NodeNaming | None] | None:
    """The node whose spec.providerID is the instance's, and which naming found it (None: by listing).

    Tries the names kOps gives nodes (private DNS name, or instance id; `prefer` first) with one GET each,
    and acts on a node only when its providerID matches; falls back to listing nodes, since names are not
    reliable (custom hostname overrides).
    """
    wanted = provider_id(instance)
    names: dict[NodeNaming, str] = {"dns": instance.private_dns_name, "id": instance.instance_id}
    order: list[NodeNaming] = [prefer, "id" if prefer == "dns" else "dns"]
    tried: set[str] = set()
    for naming in order:
        name = names[naming]
        if not name or name in tried:
            continue
        tried.add(name)
        node = read_node(core, name)
        if node is not None and node.get("spec", {}).get("providerID") == wanted:
            return node, naming
    with translated_kube_errors("list nodes"):
        nodes = _json(send(core, "GET", "/api/v1/nodes"))
    for node in nodes.get("items", []):
        if node.get("spec", {}).get("providerID") == wanted:
            return dict(node), None
    return None


def read_node(core: KubeClient, name: str) -> dict[str, Any] | None:
    try:
        with translated_kube_errors("get node"):
            data = send(core, "GET", _node_path(name))
    except KubeApiError as exc:
        if exc.status == 404:
            return None
        raise
    return _json(data)


def node_patch(node: dict[str, Any], *, action: SpotAction, event_id: str) -> dict[str, Any] | None:
    """The merge patch that puts the node in the state `action` wants, or None when it already is.

    taint: our taint, PreferNoSchedule. cordon and drain: unschedulable, our taint with NoSchedule, and the
    label that takes the node out of external load balancers. Our taint carries the event id. A weaker
    action never relaxes what a stronger one did.
    """
    if action is SpotAction.NONE:
        return None
    cordon = action in (SpotAction.CORDON, SpotAction.DRAIN)
    spec = node.get("spec", {})
    labels = node.get("metadata", {}).get("labels") or {}
    taints = list(spec.get("taints") or [])
    ours = [t for t in taints if t.get("key") == SPOT_TAINT_KEY]
    current = max((_EFFECT_STRENGTH.get(t.get("effect", ""), -1) for t in ours), default=-1)
    wanted = _EFFECT_STRENGTH["NoSchedule" if cordon else "PreferNoSchedule"]
    needs_taint = current < wanted
    needs_cordon = cordon and not spec.get("unschedulable")
    needs_label = cordon and labels.get(EXCLUDE_FROM_LB_LABEL) != "true"
    if not (needs_taint or needs_cordon or needs_label):
        return None
    # Merge patch replaces lists: the read resourceVersion makes a concurrent taint edit a 409, not a loss.
    metadata: dict[str, Any] = {"resourceVersion": node["metadata"]["resourceVersion"]}
    patch: dict[str, Any] = {"metadata": metadata, "spec": {}}
    if needs_taint:
        effect = "NoSchedule" if cordon else "PreferNoSchedule"
        others = [t for t in taints if t.get("key") != SPOT_TAINT_KEY]
        patch["spec"]["taints"] = [*others, {"key": SPOT_TAINT_KEY, "value": event_id[:63], "effect": effect}]
    if cordon:
        metadata["labels"] = {EXCLUDE_FROM_LB_LABEL: "true"}
        patch["spec"]["unschedulable"] = True
    return patch


def out_of_service_patch(node: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that adds the out-of-service taint (NoExecute), or None when the node has it."""
    taints = list(node.get("spec", {}).get("taints") or [])
    if any(t.get("key") == OUT_OF_SERVICE_TAINT_KEY and t.get("effect") == "NoExecute" for t in taints):
        return None
    others = [t for t in taints if t.get("key") != OUT_OF_SERVICE_TAINT_KEY]
    taint = {"key": OUT_OF_SERVICE_TAINT_KEY, "value": OUT_OF_SERVICE_TAINT_VALUE, "effect": "NoExecute"}
    return {
        "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
        "spec": {"taints": [*others, taint]},
    }


def patch_node(core: KubeClient, name: str, patch: dict[str, Any]) -> None:
    """One JSON merge patch (409 when the node changed since it was read)."""
    with translated_kube_errors("patch node"):
        send(core, "PATCH", _node_path(name), body=patch, content_type=MERGE_PATCH)


def _node_path(name: str) -> str:
    return f"/api/v1/nodes/{quote(name, safe='')}"


def _json(data: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(data)
    return parsed
