"""Pod objects as the kubelet and the controllers leave them on a running cluster.

Three kinds of owner matter to a drain: mirror pods of static manifests (kOps runs kube-proxy and the
control plane that way; the kubelet marks them ``kubernetes.io/config.mirror`` and, since Kubernetes
1.17, makes their Node the owner), DaemonSet pods, and ReplicaSet/Job pods.
"""

from __future__ import annotations

import copy
import hashlib
import random
from typing import Any

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.String's alphabet


class Names:
    """Deterministic generated-name suffixes (``-7c9d5b8f6d``, ``-x2k9q``) for one cluster."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(hashlib.sha256(seed.encode()).digest())  # noqa: S311 - names, not secrets

    def suffix(self, length: int = 5) -> str:
        return "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(length))

    def hex(self, length: int) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(length))


def owner(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _container_status(container: dict[str, Any], *, names: Names, now: str, finished: bool) -> dict[str, Any]:
    state: dict[str, Any]
    if finished:
        state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
    else:
        state = {"running": {"startedAt": now}}
    image = container["image"]
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{names.hex(64)}",
        "containerID": f"containerd://{names.hex(64)}",
        "ready": not finished,
        "started": not finished,
        "restartCount": 0,
        "state": state,
    }


def running_status(pod: dict[str, Any], *, host_ip: str, pod_ip: str, names: Names, now: str) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    return {
        "phase": "Running",
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "qosClass": "Burstable",
        "containerStatuses": [_container_status(c, names=names, now=now, finished=False) for c in containers],
    }


def succeeded_status(pod: dict[str, Any], *, host_ip: str, pod_ip: str, names: Names, now: str) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    not_ready = {"status": "False", "reason": "PodCompleted", "lastTransitionTime": now}
    return {
        "phase": "Succeeded",
        "conditions": [
            {"type": "Initialized", "status": "True", "reason": "PodCompleted", "lastTransitionTime": now},
            {"type": "Ready"} | not_ready,
            {"type": "ContainersReady"} | not_ready,
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        ],
        "hostIP": host_ip,
        "podIP": pod_ip,
        "startTime": now,
        "qosClass": "BestEffort",
        "containerStatuses": [_container_status(c, names=names, now=now, finished=True) for c in containers],
    }


def _pod(name: str, namespace: str, *, labels: dict[str, str], spec: dict[str, Any], node_name: str) -> dict[str, Any]:
    pod_spec = copy.deepcopy(spec)
    pod_spec.setdefault("restartPolicy", "Always")
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec |= {
        "nodeName": node_name,
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": pod_spec,
    }


def mirror_pod(
    component: str,
    *,
    namespace: str,
    node_name: str,
    node_uid: str | None,
    labels: dict[str, str],
    container: dict[str, Any],
    names: Names,
    now: str,
) -> dict[str, Any]:
    """The API-server copy of a static pod; ``node_uid`` None for kubelets older than 1.17 (no owner)."""
    pod = _pod(
        f"{component}-{node_name}",
        namespace,
        labels=labels,
        spec={
            "containers": [container],
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "priority": 2000001000,
            "tolerations": [
                {"operator": "Exists", "effect": "NoExecute"},
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
            ],
        },
        node_name=node_name,
    )
    config_hash = names.hex(32)
    pod["metadata"]["annotations"] = {
        "kubernetes.io/config.hash": config_hash,
        "kubernetes.io/config.mirror": config_hash,
        "kubernetes.io/config.seen": now,
        "kubernetes.io/config.source": "file",
    }
    if node_uid is not None:
        pod["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid, "controller": True}
        ]
    return pod


# Tolerations the DaemonSet controller adds to every pod it creates.
_DAEMONSET_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemonset_pod(
    daemonset: dict[str, Any], *, uid: str, revision: str, node_name: str, names: Names
) -> dict[str, Any]:
    template = daemonset["spec"]["template"]
    ds_name = daemonset["metadata"]["name"]
    labels = template["metadata"]["labels"] | {
        "controller-revision-hash": revision,
        "pod-template-generation": "1",
    }
    spec = copy.deepcopy(template["spec"])
    spec["tolerations"] = spec.get("tolerations", []) + [
        t for t in _DAEMONSET_TOLERATIONS if t not in spec.get("tolerations", [])
    ]
    # The DaemonSet controller pins each pod to its node through node affinity on metadata.name.
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
                ]
            }
        }
    }
    pod = _pod(
        f"{ds_name}-{names.suffix()}",
        daemonset["metadata"]["namespace"],
        labels=labels,
        spec=spec,
        node_name=node_name,
    )
    pod["metadata"]["generateName"] = f"{ds_name}-"
    pod["metadata"]["ownerReferences"] = [owner("apps/v1", "DaemonSet", ds_name, uid)]
    return pod


def replicaset_pod(replicaset: dict[str, Any], *, uid: str, node_name: str, names: Names) -> dict[str, Any]:
    template = replicaset["spec"]["template"]
    rs_name = replicaset["metadata"]["name"]
    pod = _pod(
        f"{rs_name}-{names.suffix()}",
        replicaset["metadata"]["namespace"],
        labels=template["metadata"]["labels"],
        spec=template["spec"],
        node_name=node_name,
    )
    pod["metadata"]["generateName"] = f"{rs_name}-"
    pod["metadata"]["ownerReferences"] = [owner("apps/v1", "ReplicaSet", rs_name, uid)]
    return pod


def job_pod(job: dict[str, Any], *, uid: str, node_name: str, names: Names) -> dict[str, Any]:
    template = job["spec"]["template"]
    job_name = job["metadata"]["name"]
    labels = template["metadata"]["labels"] | {"controller-uid": uid, "job-name": job_name}
    pod = _pod(
        f"{job_name}-{names.suffix()}",
        job["metadata"]["namespace"],
        labels=labels,
        spec=template["spec"],
        node_name=node_name,
    )
    pod["metadata"]["generateName"] = f"{job_name}-"
    pod["metadata"]["ownerReferences"] = [owner("batch/v1", "Job", job_name, uid)]
    return pod
