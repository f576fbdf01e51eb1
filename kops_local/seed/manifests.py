"""Kubernetes objects kOps installs as addons: kube-system, the CNI DaemonSet, their labels.

kOps 1.19+ labels every addon object ``addon.kops.k8s.io/name``, ``addon.kops.k8s.io/version`` and
``app.kubernetes.io/managed-by: kops``; older manifests carried ``k8s-addon: <addon>``. The channels
tool records each applied addon as an ``addons.k8s.io/<addon>`` annotation on kube-system.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kops_local.seed.addons import NetworkingAddon, addon_versions
from kops_local.seed.spec import ClusterSpec

KUBE_SYSTEM = "kube-system"

# What kube-router v0.4.0's kubeadm manifest (kOps 1.16/1.17) tolerates: no custom taints, no NoExecute.
KUBE_ROUTER_NARROW_TOLERATIONS: list[dict[str, str]] = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node.kubernetes.io/not-ready", "operator": "Exists"},
]
# What the other CNI manifests (and kube-router outside 1.16/1.17) tolerate: every taint.
WIDE_TOLERATIONS: list[dict[str, str]] = [
    {"effect": "NoSchedule", "operator": "Exists"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"effect": "NoExecute", "operator": "Exists"},
]


def addon_labels(spec: ClusterSpec, addon: str) -> dict[str, str]:
    versions = addon_versions(spec)
    if spec.kops_version.addon_labels:
        return {
            "addon.kops.k8s.io/name": addon,
            "addon.kops.k8s.io/version": versions.get(addon, spec.kops_version.release),
            "app.kubernetes.io/managed-by": "kops",
        }
    return {"k8s-addon": addon}


def addon_metadata(spec: ClusterSpec, name: str, namespace: str, addon: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels | addon_labels(spec, addon)}


def kube_system_annotations(spec: ClusterSpec, channel: str) -> dict[str, str]:
    """``addons.k8s.io/<addon>`` annotations the channels tool leaves on the kube-system namespace."""
    annotations: dict[str, str] = {}
    for addon, version in addon_versions(spec).items():
        record: dict[str, str] = {"version": version, "channel": channel}
        if spec.kops_version.at_least(1, 19):
            record["manifestHash"] = hashlib.sha256(f"{addon}@{version}".encode()).hexdigest()[:40]
        else:
            record["id"] = "k8s-1.12"
        annotations[f"addons.k8s.io/{addon}"] = json.dumps(record, separators=(",", ":"))
    return annotations


def namespace(
    name: str, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/metadata.name": name} | (labels or {}),
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def cni_tolerations(spec: ClusterSpec) -> list[dict[str, str]]:
    if spec.networking == "kube-router" and spec.kops_version.kube_router_narrow_tolerations:
        return [dict(t) for t in KUBE_ROUTER_NARROW_TOLERATIONS]
    return [dict(t) for t in WIDE_TOLERATIONS]


def networking_daemonset(spec: ClusterSpec, cni: NetworkingAddon) -> dict[str, Any]:
    """The CNI DaemonSet (calico-node, kube-router, cilium, weave-net, kube-flannel-ds, aws-node)."""
    selector = cni.selector_labels
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": addon_metadata(spec, cni.daemonset, KUBE_SYSTEM, cni.addon, selector | {"tier": "node"}),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": cni.daemonset,
                    "tolerations": cni_tolerations(spec),
                    "containers": [
                        {
                            "name": cni.daemonset.removeprefix("kube-").removesuffix("-ds"),
                            "image": cni.image,
                            "env": [
                                {
                                    "name": "NODE_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                }
                            ],
                            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }
