"""The workloads a seeded cluster runs: an application (Deployments, ReplicaSets, a PDB, a finished
Job) and the static pods kOps' nodeup writes into /etc/kubernetes/manifests.

The application is Google's "Online Boutique" microservices demo, a realistic mix of services. Its
``frontend`` runs one replica per worker and is covered by a PodDisruptionBudget that keeps all but
one available, so a drain may evict one frontend pod at a time and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kops_local.seed.layout import CLUSTER_CIDR
from kops_local.seed.spec import ClusterSpec

APP_NAMESPACE = "shop"
PDB_NAME = "frontend"
_IMAGE_REPO = "gcr.io/google-samples/microservices-demo"


@dataclass(frozen=True)
class AppService:
    name: str
    image: str
    port: int
    cpu: str
    memory: str


FRONTEND = AppService("frontend", f"{_IMAGE_REPO}/frontend:v0.3.6", 8080, "100m", "64Mi")
BACKENDS = (
    AppService("cartservice", f"{_IMAGE_REPO}/cartservice:v0.3.6", 7070, "200m", "64Mi"),
    AppService("productcatalogservice", f"{_IMAGE_REPO}/productcatalogservice:v0.3.6", 3550, "100m", "64Mi"),
    AppService("checkoutservice", f"{_IMAGE_REPO}/checkoutservice:v0.3.6", 5050, "100m", "64Mi"),
    AppService("redis-cart", "redis:6.2.6-alpine", 6379, "70m", "200Mi"),
)
SERVICES = (FRONTEND, *BACKENDS)


def assign_app_pods(workers: list[str], pods_per_node: int) -> dict[str, list[AppService]]:
    """Worker node → the services of its ``pods_per_node`` pods: one frontend, then backends in turn."""
    assignment: dict[str, list[AppService]] = {}
    turn = 0
    for node in workers:
        services: list[AppService] = []
        for slot in range(pods_per_node):
            if slot == 0:
                services.append(FRONTEND)
            else:
                services.append(BACKENDS[turn % len(BACKENDS)])
                turn += 1
        assignment[node] = services
    return assignment


def _app_labels(service: AppService) -> dict[str, str]:
    return {"app": service.name, "app.kubernetes.io/part-of": "online-boutique"}


def _container(service: AppService) -> dict[str, Any]:
    return {
        "name": "server" if service.name != "redis-cart" else "redis",
        "image": service.image,
        "ports": [{"containerPort": service.port, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": service.cpu, "memory": service.memory},
            "limits": {"cpu": "300m", "memory": "256Mi"},
        },
        "readinessProbe": {"tcpSocket": {"port": service.port}, "periodSeconds": 10},
    }


def deployment(service: AppService, replicas: int) -> dict[str, Any]:
    labels = _app_labels(service)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": service.name,
            "namespace": APP_NAMESPACE,
            "labels": dict(labels),
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": service.name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"serviceAccountName": "default", "containers": [_container(service)]},
            },
        },
    }


def replicaset(created_deployment: dict[str, Any], *, uid: str, template_hash: str) -> dict[str, Any]:
    """The ReplicaSet the Deployment controller creates for revision 1."""
    name = created_deployment["metadata"]["name"]
    replicas = created_deployment["spec"]["replicas"]
    template = created_deployment["spec"]["template"]
    labels = template["metadata"]["labels"] | {"pod-template-hash": template_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{template_hash}",
            "namespace": APP_NAMESPACE,
            "labels": dict(labels),
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(replicas),
                "deployment.kubernetes.io/max-replicas": str(replicas + max(1, replicas // 4)),
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name, "pod-template-hash": template_hash}},
            "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
        },
    }


def pdb_min_available(replicas: int) -> int:
    # All but one must stay up: a drain evicts one frontend pod, a second eviction gets 429.
    return max(1, replicas - 1)


def pod_disruption_budget(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": PDB_NAME, "namespace": APP_NAMESPACE, "labels": _app_labels(FRONTEND)},
        "spec": {
            "minAvailable": pdb_min_available(replicas),
            "selector": {"matchLabels": {"app": FRONTEND.name}},
        },
    }


def migration_job(name: str) -> dict[str, Any]:
    """A finished one-off Job (a schema migration) whose pod is left Succeeded on its node."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": APP_NAMESPACE, "labels": {"app": "db-migrate"}},
        "spec": {
            "backoffLimit": 2,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": {"app": "db-migrate"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "migrate",
                            "image": "migrate/migrate:v4.15.1",
                            "args": ["-path=/migrations", "-database=$(DATABASE_URL)", "up"],
                        }
                    ],
                },
            },
        },
    }


def kube_proxy_container(spec: ClusterSpec, node_name: str) -> dict[str, Any]:
    """kube-proxy as nodeup writes its static manifest (``/etc/kubernetes/manifests/kube-proxy.manifest``)."""
    version = spec.kops_version.kubernetes_version
    command = (
        "mkfifo /tmp/pipe; (tee -a /var/log/kube-proxy.log < /tmp/pipe & ) ; exec /usr/local/bin/kube-proxy "
        f"--cluster-cidr={CLUSTER_CIDR} --conntrack-max-per-core=131072 --hostname-override={node_name} "
        f"--kubeconfig=/var/lib/kube-proxy/kubeconfig --master=https://api.internal.{spec.name} "
        "--oom-score-adj=-998 --v=2 > /tmp/pipe 2>&1"
    )
    return {
        "name": "kube-proxy",
        "image": f"k8s.gcr.io/kube-proxy:v{version}",
        "command": ["/bin/sh", "-c", command],
        "resources": {"requests": {"cpu": "100m"}},
        "securityContext": {"privileged": True},
    }


def control_plane_containers(spec: ClusterSpec) -> dict[str, dict[str, Any]]:
    """Static-pod component name → container, for the control plane on a kOps master."""
    version = spec.kops_version.kubernetes_version
    etcd_manager = "kopeio/etcd-manager:3.0.20210707"
    containers: dict[str, dict[str, Any]] = {
        component: {
            "name": component,
            "image": f"k8s.gcr.io/{component}:v{version}",
            "command": ["/usr/local/bin/" + component],
            "resources": {"requests": {"cpu": cpu}},
        }
        for component, cpu in (
            ("kube-apiserver", "150m"),
            ("kube-controller-manager", "100m"),
            ("kube-scheduler", "100m"),
        )
    }
    for cluster in ("main", "events"):
        containers[f"etcd-manager-{cluster}"] = {
            "name": "etcd-manager",
            "image": etcd_manager,
            "command": ["/bin/sh", "-c", f"mkfifo /tmp/pipe; exec /etcd-manager --etcd-cluster={cluster}"],
            "resources": {"requests": {"cpu": "200m", "memory": "100Mi"}},
        }
    return containers


def deployment_status(replicas: int, now: str) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            },
        ],
    }


def replicaset_status(replicas: int) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }


def daemonset_status(scheduled: int) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "currentNumberScheduled": scheduled,
        "desiredNumberScheduled": scheduled,
        "numberAvailable": scheduled,
        "numberMisscheduled": 0,
        "numberReady": scheduled,
        "updatedNumberScheduled": scheduled,
    }


def job_status(now: str) -> dict[str, Any]:
    # Since Kubernetes 1.31 the API refuses Complete without SuccessCriteriaMet (the job controller sets both).
    return {
        "startTime": now,
        "completionTime": now,
        "succeeded": 1,
        "conditions": [
            {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
            for kind in ("SuccessCriteriaMet", "Complete")
        ],
    }
