"""The Kubernetes side of a seeded kOps cluster: nodes, addons, workloads and the pods they own.

Written through the official client's typed APIs only (see ``writer.py``), so it works against any
API server, the local emulator included.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import client

from kops_local.seed import authenticator, workloads
from kops_local.seed.addons import networking_addon
from kops_local.seed.aws import SeededAwsCluster, SeededInstance
from kops_local.seed.manifests import (
    KUBE_SYSTEM,
    kube_system_annotations,
    namespace,
    networking_daemonset,
)
from kops_local.seed.nodes import MASTER_ROLE_LABEL, node, node_name
from kops_local.seed.pods import (
    Names,
    daemonset_pod,
    job_pod,
    mirror_pod,
    owner,
    replicaset_pod,
    running_status,
    succeeded_status,
)
from kops_local.seed.spec import ClusterSpec
from kops_local.seed.writer import ApiWriter, JsonObject, SeedError

_CRD_ESTABLISHED_SECONDS = 20.0


@dataclass(frozen=True)
class PodCounts:
    """Pods on one node, by what owns them."""

    mirror: int = 0
    daemonset: int = 0
    replicaset: int = 0
    job: int = 0

    @property
    def total(self) -> int:
        return self.mirror + self.daemonset + self.replicaset + self.job


@dataclass(frozen=True)
class SeededKubeCluster:
    name: str
    node_names: dict[str, str] = field(hash=False)  # instance id -> node name
    pods_by_node: dict[str, PodCounts] = field(hash=False)  # node name -> pod counts
    app_namespace: str
    deployments: tuple[str, ...]
    pdb_name: str  # in app_namespace
    daemonsets: tuple[str, ...]  # in kube-system
    auth_configmap: str | None  # "kube-system/<name>", None without authentication or with auth=crd
    finished_pod: str  # the Succeeded Job pod, in app_namespace

    def node_name(self, instance_id: str) -> str:
        return self.node_names[instance_id]

    @property
    def total_pods(self) -> int:
        return sum(counts.total for counts in self.pods_by_node.values())


def orphaned(body: JsonObject) -> JsonObject:
    """``body`` without owner references (they are written once the owner exists, see `_Seeder.application`)."""
    body["metadata"].pop("ownerReferences", None)
    return body


def owner_of(created: JsonObject, api_version: str, kind: str) -> JsonObject:
    return owner(api_version, kind, created["metadata"]["name"], created["metadata"]["uid"])


class _PodIps:
    """Pod IPs per node: host-network pods share the node's IP, the others get one from the node's range."""

    def __init__(self, spec: ClusterSpec) -> None:
        self._vpc_cni = spec.networking == "amazon-vpc-routed-eni"
        self._next: dict[str, int] = {}

    def allocate(self, instance: SeededInstance, index: int) -> str:
        offset = self._next.get(instance.instance_id, 2)
        self._next[instance.instance_id] = offset + 1
        if self._vpc_cni:
            # The VPC CNI hands pods secondary addresses from the node's subnet.
            a, b, c, _ = instance.private_ip.split(".")
            return f"{a}.{b}.{int(c) + 1}.{offset}"
        return f"100.96.{index}.{offset}"


class _Seeder:
    """One seeding run: the writer, deterministic names, and the per-node bookkeeping."""

    def __init__(self, api: client.ApiClient, spec: ClusterSpec, aws: SeededAwsCluster) -> None:
        self.writer = ApiWriter(api)
        self.spec = spec
        self.aws = aws
        self.names = Names(spec.name)
        self.now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.index_of = {instance.instance_id: i for i, instance in enumerate(aws.instances)}
        self.node_names = {i.instance_id: node_name(spec, i) for i in aws.instances}
        self.node_uids: dict[str, str] = {}
        self.counts = {
            name: dict.fromkeys(("mirror", "daemonset", "replicaset", "job"), 0) for name in self.node_names.values()
        }
        self.ips = _PodIps(spec)

    def namespaces(self) -> None:
        channel = f"{self.aws.state_store}/addons/bootstrap-channel.yaml"
        annotations = kube_system_annotations(self.spec, channel)
        self.writer.ensure_namespace(namespace(KUBE_SYSTEM, annotations=annotations))
        self.writer.ensure_namespace(namespace("default"))
        labels = {"app.kubernetes.io/part-of": "online-boutique"}
        self.writer.ensure_namespace(namespace(workloads.APP_NAMESPACE, labels=labels))

    def nodes(self) -> None:
        core = self.writer.core
        for instance in self.aws.instances:
            body = node(self.spec, self.aws, instance, index=self.index_of[instance.instance_id], now=self.now)
            status = body.pop("status")
            created = self.writer.create(
                body,
                core.create_node,
                status=status,
                patch_status=core.patch_node_status,
                status_key="nodeInfo",
            )
            self.node_uids[instance.instance_id] = created["metadata"]["uid"]

    def pod(self, pod: JsonObject, instance: SeededInstance, owner_kind: str, *, finished: bool = False) -> JsonObject:
        host_ip = instance.private_ip
        if pod["spec"].get("hostNetwork", False):
            pod_ip = host_ip
        else:
            pod_ip = self.ips.allocate(instance, self.index_of[instance.instance_id])
        make_status = succeeded_status if finished else running_status
        status = make_status(pod, host_ip=host_ip, pod_ip=pod_ip, names=self.names, now=self.now)
        core = self.writer.core
        created = self.writer.create(
            pod,
            core.create_namespaced_pod,
            status=status,
            patch_status=core.patch_namespaced_pod_status,
            status_key="phase",
        )
        self.counts[self.node_names[instance.instance_id]][owner_kind] += 1
        return created

    def static_pods(self) -> None:
        """kOps runs kube-proxy on every node, and the control plane on masters, as static pods."""
        owned_by_node = self.spec.kops_version.mirror_pods_owned_by_node
        for instance in self.aws.instances:
            name = self.node_names[instance.instance_id]
            static = {"kube-proxy": workloads.kube_proxy_container(self.spec, name)}
            if instance.role == "master":
                static |= workloads.control_plane_containers(self.spec)
            for component, container in static.items():
                tier = "node" if component == "kube-proxy" else "control-plane"
                pod = mirror_pod(
                    component,
                    namespace=KUBE_SYSTEM,
                    node_name=name,
                    node_uid=self.node_uids[instance.instance_id] if owned_by_node else None,
                    labels={"k8s-app": component, "tier": tier},
                    container=container,
                    names=self.names,
                    now=self.now,
                )
                self.pod(pod, instance, "mirror")

    def daemonsets(self) -> list[str]:
        """The CNI DaemonSet on every node, the authenticator's on the masters; returns their names."""
        planned: list[tuple[JsonObject, tuple[SeededInstance, ...]]] = []
        cni = networking_addon(self.spec)
        if cni is not None:
            planned.append((networking_daemonset(self.spec, cni), self.aws.instances))
        if self.spec.auth != "none":
            planned.append((authenticator.daemonset(self.spec, MASTER_ROLE_LABEL), self.aws.masters))
        apps = self.writer.apps
        for body, targets in planned:
            created = self.writer.create(
                body,
                apps.create_namespaced_daemon_set,
                status=workloads.daemonset_status(len(targets)),
                patch_status=apps.patch_namespaced_daemon_set_status,
                status_key="numberReady",
            )
            revision = self.names.suffix(10)
            for instance in targets:
                pod = daemonset_pod(
                    created,
                    uid=created["metadata"]["uid"],
                    revision=revision,
                    node_name=self.node_names[instance.instance_id],
                    names=self.names,
                )
                self.pod(pod, instance, "daemonset")
        return [body["metadata"]["name"] for body, _ in planned]

    def authentication(self) -> str | None:
        if self.spec.auth == "crd":
            self.identity_mappings()
            return None
        configmap = authenticator.configmap(self.spec, self.aws)
        if configmap is None:
            return None
        self.writer.create(configmap, self.writer.core.create_namespaced_config_map)
        return f"{KUBE_SYSTEM}/{configmap['metadata']['name']}"

    def identity_mappings(self) -> None:
        """The IAMIdentityMapping CRD, then kOps' objects of it once the server serves the type."""
        crd = authenticator.identity_mapping_crd()
        try:
            self.writer.create(crd, self.writer.apiextensions.create_custom_resource_definition)
        except SeedError as err:
            raise SeedError(f"{err} (auth=crd needs a server that serves CRDs: the real control plane)") from err
        group, version = authenticator.IDENTITY_MAPPING_API_VERSION.split("/")
        plural = crd["spec"]["names"]["plural"]
        create = functools.partial(self.writer.custom.create_cluster_custom_object, group, version, plural)
        deadline = time.monotonic() + _CRD_ESTABLISHED_SECONDS
        for body in authenticator.identity_mapping_objects(self.aws):
            while True:
                try:
                    self.writer.create(body, create)
                    break
                except SeedError:
                    # A new CRD is served a moment after its creation (until Established: 404).
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def application(self) -> None:
        """Deployments → ReplicaSets → pods spread over the workers, and the frontend's PDB.

        Written bottom-up (pods, then their ReplicaSets, then the Deployments; owner references last), so the
        controllers of a real server adopt what they find: a ReplicaSet written before its pods creates pods
        of its own at once, and a Deployment written before its ReplicaSet creates a ReplicaSet of its own
        (then scales ours to 0), so the seeded cluster would churn for seconds after seeding. The Deployments
        are written paused and resumed last: a controller whose cache has not seen our ReplicaSet yet when
        the Deployment arrives would otherwise still create its own; a paused Deployment never does."""
        workers = {self.node_names[i.instance_id]: i for i in self.aws.workers}
        assignment = workloads.assign_app_pods(list(workers), self.spec.pods)
        replicas = {s.name: sum(svcs.count(s) for svcs in assignment.values()) for s in workloads.SERVICES}
        apps, core = self.writer.apps, self.writer.core
        deployments = {s.name: workloads.deployment(s, replicas[s.name]) for s in workloads.SERVICES}
        for body in deployments.values():
            body["spec"]["paused"] = True
        replicasets = {
            name: orphaned(workloads.replicaset(body, uid="", template_hash=self.names.suffix(10)))
            for name, body in deployments.items()
        }
        pods_of: dict[str, list[JsonObject]] = {name: [] for name in deployments}
        for worker_name, services in assignment.items():
            for service in services:
                rs = replicasets[service.name]
                pod = orphaned(replicaset_pod(rs, uid="", node_name=worker_name, names=self.names))
                pods_of[service.name].append(self.pod(pod, workers[worker_name], "replicaset"))
        for service in workloads.SERVICES:
            count = replicas[service.name]
            created_rs = self.writer.create(
                replicasets[service.name],
                apps.create_namespaced_replica_set,
                status=workloads.replicaset_status(count),
                patch_status=apps.patch_namespaced_replica_set_status,
                status_key="readyReplicas",
            )
            created_deployment = self.writer.create(
                deployments[service.name],
                apps.create_namespaced_deployment,
                status=workloads.deployment_status(count, self.now),
                patch_status=apps.patch_namespaced_deployment_status,
                status_key="readyReplicas",
            )
            self.writer.set_owner(
                created_rs, apps.patch_namespaced_replica_set, owner_of(created_deployment, "apps/v1", "Deployment")
            )
            for pod in pods_of[service.name]:
                self.writer.set_owner(pod, core.patch_namespaced_pod, owner_of(created_rs, "apps/v1", "ReplicaSet"))
        for name in deployments:
            self.writer.resume(name, workloads.APP_NAMESPACE)
        self.writer.create(
            workloads.pod_disruption_budget(replicas[workloads.FRONTEND.name]),
            self.writer.policy.create_namespaced_pod_disruption_budget,
        )

    def finished_job(self) -> str:
        """A completed migration Job whose pod stays Succeeded on the first worker; returns the pod name."""
        batch = self.writer.batch
        job = self.writer.create(
            workloads.migration_job(f"db-migrate-{self.names.hex(8)}"),
            batch.create_namespaced_job,
            status=workloads.job_status(self.now),
            patch_status=batch.patch_namespaced_job_status,
            status_key="succeeded",
        )
        worker = self.aws.workers[0]
        pod = job_pod(job, uid=job["metadata"]["uid"], node_name=self.node_names[worker.instance_id], names=self.names)
        return str(self.pod(pod, worker, "job", finished=True)["metadata"]["name"])


def seed_kube(api: client.ApiClient, spec: ClusterSpec, aws: SeededAwsCluster) -> SeededKubeCluster:
    """Create kube-system/default/shop, one Node per instance, the addons, the workloads and their pods."""
    if spec.name != aws.name:
        raise ValueError(f"spec is for {spec.name!r} but the AWS side is {aws.name!r}")
    seeder = _Seeder(api, spec, aws)
    seeder.namespaces()
    seeder.nodes()
    seeder.static_pods()
    daemonsets = seeder.daemonsets()
    auth_configmap = seeder.authentication()
    seeder.application()
    finished_pod = seeder.finished_job()
    return SeededKubeCluster(
        name=spec.name,
        node_names=dict(seeder.node_names),
        pods_by_node={name: PodCounts(**by_kind) for name, by_kind in seeder.counts.items()},
        app_namespace=workloads.APP_NAMESPACE,
        deployments=tuple(s.name for s in workloads.SERVICES),
        pdb_name=workloads.PDB_NAME,
        daemonsets=tuple(daemonsets),
        auth_configmap=auth_configmap,
        finished_pod=finished_pod,
    )
