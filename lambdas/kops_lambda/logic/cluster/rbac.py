"""What the IAM principals we map into the cluster may do: two ClusterRoles, bound to two groups.

Nothing here, and nothing MapIdentity writes, ever names `system:masters` (or any `system:` group):
the vendor's script maps its IAM user to cluster-admin; we map it to a role sized to the service.

`kops-onboard:cast-service` (group of the cluster's IAM user `cast-kops-<cluster>`), for the
optimization service, which reads the whole cluster to plan and manages nodes to act on the plan:

- "" pods, nodes, services, endpoints, namespaces, configmaps, events, persistentvolumes,
  persistentvolumeclaims, replicationcontrollers, resourcequotas, limitranges, serviceaccounts:
  get, list, watch (read everything it plans with);
- apps, batch, autoscaling, policy, storage.k8s.io, networking.k8s.io, scheduling.k8s.io,
  coordination.k8s.io, metrics.k8s.io, all resources: get, list, watch (workloads, PDBs, storage,
  priorities, node metrics);
- "" nodes: patch, delete (cordon via spec.unschedulable, taint, remove drained nodes);
- "" pods/eviction: create (drain through the Eviction API, PodDisruptionBudgets honoured).

"Read everything" deliberately excludes Secrets: on the Kubernetes versions kOps 1.11-1.22 run, every
ServiceAccount has a token Secret, so reading all Secrets is a path to cluster-admin. There is no write
to Secrets, RBAC, workloads or pods (other than evictions) at all.

`kops-onboard:spot-drainer` (group of our Spot handler Lambda's IAM role), for cordon and drain on an
interruption warning, and nothing else:

- "" nodes: get, list, patch (find the node by providerID, cordon and taint it);
- "" pods: list (the pods to drain from the node; it never reads a single pod);
- "" pods/eviction: create (evict them, PDBs honoured);
- "" events: create (record what it did on the node).
"""

from typing import Any

from kops_lambda.constants import CAST_SERVICE_GROUP, MANAGED_BY_LABEL, PRODUCT, SPOT_DRAINER_GROUP

JsonObject = dict[str, Any]
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]

CAST_SERVICE_ROLE = CAST_SERVICE_GROUP
SPOT_DRAINER_ROLE = SPOT_DRAINER_GROUP

CAST_SERVICE_RULES: list[JsonObject] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "nodes",
            "services",
            "endpoints",
            "namespaces",
            "configmaps",
            "events",
            "persistentvolumes",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "resourcequotas",
            "limitranges",
            "serviceaccounts",
        ],
        "verbs": READ,
    },
    {
        "apiGroups": [
            "apps",
            "batch",
            "autoscaling",
            "policy",
            "storage.k8s.io",
            "networking.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "metrics.k8s.io",
        ],
        "resources": ["*"],
        "verbs": READ,
    },
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
]

SPOT_DRAINER_RULES: list[JsonObject] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]


def spot_drainer_rules(*, force_delete: bool) -> list[JsonObject]:
    """Pods may be deleted (bypassing PodDisruptionBudgets) only when the Spot handler's force-delete opt-in is on."""
    if not force_delete:
        return SPOT_DRAINER_RULES
    pods = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]}
    return [pods if rule["resources"] == ["pods"] else rule for rule in SPOT_DRAINER_RULES]


def managed_labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {MANAGED_BY_LABEL: PRODUCT, **(extra or {})}


def cluster_role(name: str, rules: list[JsonObject]) -> JsonObject:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": managed_labels()},
        "rules": rules,
    }


def cluster_role_binding(name: str, role: str, subjects: list[JsonObject]) -> JsonObject:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": managed_labels()},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def group_subject(group: str) -> JsonObject:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": group}


def identity_rbac_objects(*, spot_force_delete: bool = False) -> list[JsonObject]:
    """Both ClusterRoles and their bindings to our groups (names equal the group names)."""
    return [
        cluster_role(CAST_SERVICE_ROLE, CAST_SERVICE_RULES),
        cluster_role_binding(CAST_SERVICE_ROLE, CAST_SERVICE_ROLE, [group_subject(CAST_SERVICE_GROUP)]),
        cluster_role(SPOT_DRAINER_ROLE, spot_drainer_rules(force_delete=spot_force_delete)),
        cluster_role_binding(SPOT_DRAINER_ROLE, SPOT_DRAINER_ROLE, [group_subject(SPOT_DRAINER_GROUP)]),
    ]
