"""The agent's Kubernetes objects, as the vendor's chart renders them for kOps (castai/helm-charts,
chart `castai-agent`: deployment.yaml, rbac.yaml, resource-quota.yaml, clustervpa-configmap.yaml,
secret.yaml), narrowed where noted.

* Deployment `castai-agent`: container `agent` (image `us-docker.pkg.dev/castai-hub/library/agent`,
  env `API_URL`, `PROVIDER=kops` and, when the state store is known, the agent's kOps settings
  `KOPS_CSP=aws`, `KOPS_REGION`, `KOPS_CLUSTER_NAME`, `KOPS_STATE_STORE` (k8s-agent
  internal/config: all four or none, else the agent discovers them); `API_KEY` from the Secret via
  envFrom) and container `autoscaler`, the cluster-proportional-vertical-autoscaler (cpvpa) that sizes
  the agent's memory from the ConfigMap below, as the chart's clusterVPA does. CPU is fixed (100m
  request, 1 core limit) as in the chart when cpvpa is on. `priorityClassName: system-cluster-critical`
  from kOps 1.17 (Kubernetes 1.17 allows system priority classes outside kube-system only with a
  ResourceQuota admitting them; before 1.17 they are refused there, so we leave both out).
* ServiceAccount, Secret (`API_KEY`) and ConfigMap `castai-agent-autoscaler` (cpvpa "linear" mode:
  memory requests and limits base 0, +256Mi per 20 nodes or per 480 cores, at most 8Gi).
* ClusterRole `castai-agent`: get/list/watch only on pods, nodes, replicationcontrollers,
  persistentvolumeclaims, persistentvolumes, services, namespaces (core), deployments, replicasets,
  daemonsets, statefulsets (apps), storageclasses, csinodes (storage.k8s.io), jobs (batch),
  horizontalpodautoscalers (autoscaling); plus get/create/update on leases (coordination.k8s.io) for
  the agent's leader election (the chart puts leases in its namespaced Role; we keep that Role to the
  autoscaler's single permission). Nothing on Secrets or ConfigMaps cluster-wide. The chart also
  reads events, limitranges, resourcequotas, cronjobs, poddisruptionbudgets, pod metrics and its
  namespace's ConfigMaps: left out here, per the onboarding's permission list.
* Role `castai-agent` (namespace castai-agent): only `patch` on the Deployment `castai-agent`
  (resourceNames), for cpvpa; RoleBinding and ClusterRoleBinding to the ServiceAccount.
* ResourceQuota `castai-agent-critical-pods`: scopeSelector PriorityClass In [system-cluster-critical].
"""

import base64
import json
from dataclasses import dataclass
from typing import Any

from kops_lambda.constants import (
    AGENT_AUTOSCALER_IMAGE,
    AGENT_IMAGE,
    AGENT_NAME,
    AGENT_NAMESPACE,
)
from kops_lambda.logic.cluster.rbac import RBAC_API_VERSION, RBAC_GROUP, managed_labels

JsonObject = dict[str, Any]

AUTOSCALER_CONFIGMAP = f"{AGENT_NAME}-autoscaler"
AUTOSCALER_CONFIG_KEY = "castai-agent-autoscaler"
RESOURCE_QUOTA = f"{AGENT_NAME}-critical-pods"
PRIORITY_CLASS = "system-cluster-critical"
AGENT_CONTAINER = "agent"
SELECTOR_LABELS = {"app.kubernetes.io/name": AGENT_NAME, "app.kubernetes.io/instance": AGENT_NAME}
READ = ["get", "list", "watch"]

AGENT_CLUSTER_RULES: list[JsonObject] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "nodes",
            "replicationcontrollers",
            "persistentvolumeclaims",
            "persistentvolumes",
            "services",
            "namespaces",
        ],
        "verbs": READ,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "daemonsets", "statefulsets"], "verbs": READ},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csinodes"], "verbs": READ},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": READ},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
]

AGENT_ROLE_RULES: list[JsonObject] = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [AGENT_NAME], "verbs": ["patch"]},
]

_MEMORY_LADDER = {"base": "0", "max": "8Gi", "step": "256Mi", "nodesPerStep": 20, "coresPerStep": 480}
AUTOSCALER_CONFIG: JsonObject = {
    AGENT_CONTAINER: {"requests": {"memory": dict(_MEMORY_LADDER)}, "limits": {"memory": dict(_MEMORY_LADDER)}}
}


@dataclass(frozen=True)
class AgentSettings:
    cluster_name: str
    region: str
    api_url: str
    state_store: str | None  # KOPS_STATE_STORE, e.g. s3://bucket
    critical_priority: bool  # kOps >= 1.17


def _meta(name: str, *, namespaced: bool = True) -> JsonObject:
    meta: JsonObject = {"name": name, "labels": managed_labels(SELECTOR_LABELS)}
    if namespaced:
        meta["namespace"] = AGENT_NAMESPACE
    return meta


def namespace() -> JsonObject:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(AGENT_NAMESPACE, namespaced=False)}


def service_account() -> JsonObject:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(AGENT_NAME)}


def secret(api_key: str) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(AGENT_NAME),
        "type": "Opaque",
        "data": {"API_KEY": base64.b64encode(api_key.encode()).decode()},
    }


def cluster_role() -> JsonObject:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _meta(AGENT_NAME, namespaced=False),
        "rules": AGENT_CLUSTER_RULES,
    }


def _subjects() -> list[JsonObject]:
    return [{"kind": "ServiceAccount", "name": AGENT_NAME, "namespace": AGENT_NAMESPACE}]


def cluster_role_binding() -> JsonObject:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(AGENT_NAME, namespaced=False),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": AGENT_NAME},
        "subjects": _subjects(),
    }


def role() -> JsonObject:
    return {"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": _meta(AGENT_NAME), "rules": AGENT_ROLE_RULES}


def role_binding() -> JsonObject:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": _meta(AGENT_NAME),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": AGENT_NAME},
        "subjects": _subjects(),
    }


def resource_quota() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(RESOURCE_QUOTA),
        "spec": {
            "scopeSelector": {
                "matchExpressions": [{"operator": "In", "scopeName": "PriorityClass", "values": [PRIORITY_CLASS]}]
            }
        },
    }


def autoscaler_configmap() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(AUTOSCALER_CONFIGMAP),
        "data": {AUTOSCALER_CONFIG_KEY: json.dumps(AUTOSCALER_CONFIG, indent=2)},
    }


def agent_env(settings: AgentSettings) -> list[JsonObject]:
    env = [{"name": "API_URL", "value": settings.api_url}, {"name": "PROVIDER", "value": "kops"}]
    if settings.state_store:
        env += [
            {"name": "KOPS_CSP", "value": "aws"},
            {"name": "KOPS_REGION", "value": settings.region},
            {"name": "KOPS_CLUSTER_NAME", "value": settings.cluster_name},
            {"name": "KOPS_STATE_STORE", "value": settings.state_store},
        ]
    return env


def deployment(settings: AgentSettings) -> JsonObject:
    pod_spec: JsonObject = {
        "serviceAccountName": AGENT_NAME,
        "automountServiceAccountToken": True,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1002, "runAsGroup": 1002, "fsGroup": 1002},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "NotIn", "values": ["windows"]}]}
                    ]
                }
            }
        },
        "containers": [
            {
                "name": AGENT_CONTAINER,
                "image": AGENT_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "env": agent_env(settings),
                "envFrom": [{"secretRef": {"name": AGENT_NAME}}],
                "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
            },
            {
                "name": "autoscaler",
                "image": AGENT_AUTOSCALER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": [
                    "/cpvpa",
                    f"--target=deployment/{AGENT_NAME}",
                    f"--namespace={AGENT_NAMESPACE}",
                    "--logtostderr=true",
                    "--poll-period-seconds=300",
                    f"--config-file=/etc/config/{AUTOSCALER_CONFIG_KEY}",
                ],
                "volumeMounts": [{"mountPath": "/etc/config", "name": "autoscaler-config"}],
            },
        ],
        "volumes": [{"name": "autoscaler-config", "configMap": {"name": AUTOSCALER_CONFIGMAP}}],
    }
    if settings.critical_priority:
        pod_spec = {"priorityClassName": PRIORITY_CLASS, **pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(AGENT_NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(SELECTOR_LABELS)},
            "template": {"metadata": {"labels": dict(SELECTOR_LABELS)}, "spec": pod_spec},
        },
    }


def agent_objects(settings: AgentSettings, *, api_key: str | None) -> list[JsonObject]:
    """In apply order: the namespace first, the quota before the pods it admits, the Deployment last.
    `api_key` None: all but the Secret (the plan, which never reads the key)."""
    objects = [
        namespace(),
        service_account(),
        *([secret(api_key)] if api_key is not None else []),
        cluster_role(),
        cluster_role_binding(),
        role(),
        role_binding(),
    ]
    if settings.critical_priority:
        objects.append(resource_quota())
    return [*objects, autoscaler_configmap(), deployment(settings)]
