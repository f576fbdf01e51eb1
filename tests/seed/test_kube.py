"""seed_kube against the Kubernetes API emulator, read back through the official client."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml
from kubernetes import client

from kops_local.seed import PodCounts
from kops_local.seed.writer import ApiWriter, SeedError
from tests.seed.conftest import SeededCluster

DEFAULT = "demo.k8s.local"  # kOps 1.21, calico, EKS-style aws-auth, 3 workers (2 Spot), 4 pods each
LEGACY = "legacy.k8s.local:kops=1.17,networking=kube-router"  # mounted-file authenticator
BY_ID = "byid.k8s.local:naming=id,nodes=2,pods=2"
NO_AUTH = "noauth.k8s.local:auth=none,nodes=1,pods=1"
OLD = "old.k8s.local:kops=1.15,networking=kube-router,nodes=2,pods=1"


def _pods_on(cluster: SeededCluster, node: str) -> list[Any]:
    return list(cluster.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items)


def _owner_kind(pod: Any) -> str:
    annotations = pod.metadata.annotations or {}
    if "kubernetes.io/config.mirror" in annotations:
        return "mirror"
    owners = pod.metadata.owner_references or []
    return owners[0].kind.lower() if owners else "none"


def test_seeding_a_three_node_cluster_writes_each_object_once_or_twice_and_reads_nothing(seeded: Any) -> None:
    # When the default cluster is seeded on a local API
    cluster = seeded(DEFAULT)

    # Then 1 master + 3 workers were made with writes only, each answered at once (no retries, no polling):
    # one create per object (409 for the namespaces the server already has) and at most one status patch
    assert len(cluster.kube.node_names) == 4
    answered = Counter((r.method, r.status) for r in cluster.requests)
    assert set(answered) <= {("POST", 201), ("POST", 409), ("PATCH", 200)}, answered
    writes = Counter(
        f"{r.path}/{r.body['metadata']['name']}" if r.method == "POST" else r.path.removesuffix("/status")
        for r in cluster.requests
    )
    assert set(writes.values()) <= {1, 2}, writes
    assert answered["PATCH", 200] <= answered["POST", 201]


@pytest.mark.parametrize("text", [DEFAULT, LEGACY])
def test_node_provider_ids_map_to_the_instances(seeded: Any, text: str) -> None:
    cluster = seeded(text)
    nodes = {n.metadata.name: n for n in cluster.core.list_node().items}

    # Then every instance has one Node whose providerID is aws:///<zone>/<instance-id>
    assert set(nodes) == set(cluster.kube.node_names.values())
    for instance in cluster.aws.instances:
        node = nodes[cluster.kube.node_name(instance.instance_id)]
        assert node.spec.provider_id == f"aws:///{instance.az}/{instance.instance_id}"
        assert node.metadata.labels["kops.k8s.io/instancegroup"] == instance.instance_group
        assert node.metadata.labels["failure-domain.beta.kubernetes.io/zone"] == instance.az
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True"
        addresses = {a.type: a.address for a in node.status.addresses}
        assert addresses == {
            "InternalIP": instance.private_ip,
            "Hostname": instance.private_dns_name,
            "InternalDNS": instance.private_dns_name,
        }


def test_node_labels_follow_role_lifecycle_and_version(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    for instance in cluster.aws.instances:
        node = cluster.core.read_node(cluster.kube.node_name(instance.instance_id))
        labels = node.metadata.labels
        # Then Kubernetes 1.21 nodes carry the GA topology and instance-type labels
        assert labels["topology.kubernetes.io/zone"] == instance.az
        assert labels["node.kubernetes.io/instance-type"] == instance.instance_type
        if instance.role == "master":
            # And masters are tainted NoSchedule and labelled master + control-plane
            assert "node-role.kubernetes.io/control-plane" in labels
            assert [(t.key, t.effect) for t in node.spec.taints] == [("node-role.kubernetes.io/master", "NoSchedule")]
        else:
            assert "node-role.kubernetes.io/node" in labels
            assert not node.spec.taints
        # And kops-controller's Spot label marks exactly the Spot workers
        assert ("node-role.kubernetes.io/spot-worker" in labels) == (instance.lifecycle == "spot")


def test_old_kubernetes_nodes_have_only_beta_labels(seeded: Any) -> None:
    # Given kOps 1.15 (Kubernetes 1.15, no kops-controller Spot labelling yet)
    cluster = seeded(OLD)
    for instance in cluster.aws.instances:
        node = cluster.core.read_node(cluster.kube.node_name(instance.instance_id))
        # Then only the beta zone label exists, and Spot workers carry the instance group's spot=true label
        assert "topology.kubernetes.io/zone" not in node.metadata.labels
        assert node.status.node_info.kubelet_version == "v1.15.12"
        assert (node.metadata.labels.get("spot") == "true") == (instance.lifecycle == "spot")
        assert "node-role.kubernetes.io/spot-worker" not in node.metadata.labels


@pytest.mark.parametrize(("text", "naming"), [(DEFAULT, "ip"), (BY_ID, "id")])
def test_node_naming(seeded: Any, text: str, naming: str) -> None:
    cluster = seeded(text)
    for instance in cluster.aws.instances:
        name = cluster.kube.node_name(instance.instance_id)
        # Then nodes are named by private DNS name or by instance id, and kubernetes.io/hostname agrees
        expected = instance.private_dns_name if naming == "ip" else instance.instance_id
        assert name == expected
        assert cluster.core.read_node(name).metadata.labels["kubernetes.io/hostname"] == expected


@pytest.mark.parametrize("text", [DEFAULT, LEGACY, BY_ID])
def test_each_worker_runs_a_mirror_pod_a_cni_pod_and_its_application_pods(seeded: Any, text: str) -> None:
    cluster = seeded(text)
    for instance in cluster.aws.workers:
        node = cluster.kube.node_name(instance.instance_id)
        pods = _pods_on(cluster, node)
        kinds = Counter(_owner_kind(p) for p in pods)

        # Then: a kube-proxy mirror pod, a CNI DaemonSet pod, `pods` ReplicaSet pods (+ the Job pod)
        assert kinds["mirror"] == 1
        assert kinds["daemonset"] == 1
        assert kinds["replicaset"] == cluster.spec.pods
        assert set(kinds) <= {"mirror", "daemonset", "replicaset", "job"}
        assert PodCounts(**kinds) == cluster.kube.pods_by_node[node]

        # And they are all running and ready, on their node, except the Succeeded Job pod
        for pod in pods:
            assert pod.spec.node_name == node
            ready = {c.type: c.status for c in pod.status.conditions}["Ready"]
            if _owner_kind(pod) == "job":
                assert (pod.status.phase, ready) == ("Succeeded", "False")
            else:
                assert (pod.status.phase, ready) == ("Running", "True")


def test_exactly_one_finished_job_pod(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    pods = cluster.core.list_namespaced_pod("shop", label_selector="app=db-migrate").items
    assert [(p.metadata.name, p.status.phase) for p in pods] == [(cluster.kube.finished_pod, "Succeeded")]
    job = client.BatchV1Api(cluster.api).read_namespaced_job(pods[0].metadata.owner_references[0].name, "shop")
    assert job.metadata.uid == pods[0].metadata.owner_references[0].uid


def test_mirror_pods_are_owned_by_their_node_from_kubernetes_1_17(seeded: Any) -> None:
    for text, owned in ((DEFAULT, True), (OLD, False)):
        cluster = seeded(text)
        node_uids = {n.metadata.name: n.metadata.uid for n in cluster.core.list_node().items}
        proxies = cluster.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-proxy").items
        assert len(proxies) == len(node_uids)
        for pod in proxies:
            assert pod.metadata.annotations["kubernetes.io/config.mirror"]
            owners = pod.metadata.owner_references or []
            if owned:
                assert [(o.kind, o.name, o.uid) for o in owners] == [
                    ("Node", pod.spec.node_name, node_uids[pod.spec.node_name])
                ]
            else:
                assert owners == []


def test_owner_references_carry_the_uids_of_existing_objects(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    apps = cluster.apps
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment("shop").items}
    replicasets = {r.metadata.name: r for r in apps.list_namespaced_replica_set("shop").items}
    daemonsets = {d.metadata.name: d for d in apps.list_namespaced_daemon_set("kube-system").items}
    assert set(deployments) == set(cluster.kube.deployments)
    assert set(daemonsets) == set(cluster.kube.daemonsets) == {"calico-node", "aws-iam-authenticator"}

    # Then ReplicaSets point at their Deployment, pods at their ReplicaSet or DaemonSet, by uid
    for rs in replicasets.values():
        owner = rs.metadata.owner_references[0]
        assert (owner.kind, owner.uid) == ("Deployment", deployments[owner.name].metadata.uid)
    for pod in cluster.core.list_pod_for_all_namespaces().items:
        for owner in pod.metadata.owner_references or []:
            if owner.kind == "ReplicaSet":
                assert owner.uid == replicasets[owner.name].metadata.uid
            elif owner.kind == "DaemonSet":
                assert owner.uid == daemonsets[owner.name].metadata.uid

    # And workload statuses report everything ready
    frontend = deployments["frontend"]
    assert frontend.status.ready_replicas == frontend.spec.replicas == len(cluster.aws.workers)
    calico = daemonsets["calico-node"]
    assert calico.status.number_ready == calico.status.desired_number_scheduled == len(cluster.aws.instances)


def test_pdb_keeps_all_but_one_frontend_pod(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    pdb = client.PolicyV1Api(cluster.api).read_namespaced_pod_disruption_budget(cluster.kube.pdb_name, "shop")
    frontends = cluster.core.list_namespaced_pod("shop", label_selector="app=frontend").items

    # Then the policy/v1 budget selects the frontend pods (one per worker) and lets one go at a time
    assert pdb.spec.selector.match_labels == {"app": "frontend"}
    assert len(frontends) == 3
    assert pdb.spec.min_available == 2
    assert pdb.status.disruptions_allowed == 1


def test_kube_system_records_the_applied_addons(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    annotations = cluster.core.read_namespace("kube-system").metadata.annotations
    record = yaml.safe_load(annotations["addons.k8s.io/networking.projectcalico.org"])
    assert record["channel"] == f"{cluster.aws.state_store}/addons/bootstrap-channel.yaml"
    assert "addons.k8s.io/authentication.aws" in annotations
    labels = cluster.apps.read_namespaced_daemon_set("calico-node", "kube-system").metadata.labels
    assert labels["addon.kops.k8s.io/name"] == "networking.projectcalico.org"
    assert labels["app.kubernetes.io/managed-by"] == "kops"


def _configmaps(cluster: SeededCluster) -> dict[str, Any]:
    return {c.metadata.name: c for c in cluster.core.list_namespaced_config_map("kube-system").items}


def test_eks_configmap_mode_writes_aws_auth(seeded: Any) -> None:
    # Given kOps 1.21 (backendMode EKSConfigMap by default)
    cluster = seeded(DEFAULT)
    configmaps = _configmaps(cluster)

    # Then kube-system/aws-auth holds mapRoles/mapUsers as YAML strings, with the nodes' role mapped
    assert "aws-iam-authenticator" not in configmaps
    data = configmaps["aws-auth"].data
    map_roles = yaml.safe_load(data["mapRoles"])
    map_users = yaml.safe_load(data["mapUsers"])
    node_role = next(r for r in map_roles if r["rolearn"] == cluster.aws.node_role_arn)
    assert node_role["username"] == "system:node:{{EC2PrivateDNSName}}"
    assert node_role["groups"] == ["system:bootstrappers", "system:nodes"]
    assert all({"userarn", "username", "groups"} <= set(u) for u in map_users)
    assert cluster.kube.auth_configmap == "kube-system/aws-auth"

    # And the authenticator runs in EKSConfigMap mode
    ds = cluster.apps.read_namespaced_daemon_set("aws-iam-authenticator", "kube-system")
    args = ds.spec.template.spec.containers[0].args
    assert "--backend-mode=EKSConfigMap" in args
    assert f"--cluster-id={cluster.aws.name}" in args


def test_crd_mode_needs_a_server_that_serves_crds(seeded: Any) -> None:
    # Given the emulator, which serves no CustomResourceDefinitions
    # When a CRD-backend cluster is seeded on it
    # Then the seeder says what it needs instead of leaving a cluster without its mappings
    with pytest.raises(SeedError, match="auth=crd needs a server that serves CRDs"):
        seeded("crd.k8s.local:kops=1.22,auth=crd,nodes=1,pods=1")


def test_mounted_file_mode_writes_the_authenticator_config(seeded: Any) -> None:
    # Given kOps 1.17 (the authenticator reads its mounted ConfigMap)
    cluster = seeded(LEGACY)
    configmaps = _configmaps(cluster)

    # Then kube-system/aws-iam-authenticator has config.yaml in the authenticator's camelCase format
    assert "aws-auth" not in configmaps
    config = yaml.safe_load(configmaps["aws-iam-authenticator"].data["config.yaml"])
    assert config["clusterID"] == cluster.aws.name
    admin = config["server"]["mapRoles"][0]
    assert admin["roleARN"].endswith(":role/KubernetesAdmin")
    assert admin["groups"] == ["system:masters"]
    assert {"userARN", "username", "groups"} <= set(config["server"]["mapUsers"][0])

    # And the DaemonSet mounts it and has no --backend-mode flag (kOps < 1.19)
    ds = cluster.apps.read_namespaced_daemon_set("aws-iam-authenticator", "kube-system")
    spec = ds.spec.template.spec
    assert "--config=/etc/aws-iam-authenticator/config.yaml" in spec.containers[0].args
    assert not any(a.startswith("--backend-mode") for a in spec.containers[0].args)
    assert spec.volumes[0].config_map.name == "aws-iam-authenticator"


def test_no_authentication_means_neither_configmap_nor_daemonset(seeded: Any) -> None:
    cluster = seeded(NO_AUTH)
    assert not {"aws-auth", "aws-iam-authenticator"} & set(_configmaps(cluster))
    assert cluster.kube.daemonsets == ("calico-node",)
    assert cluster.kube.auth_configmap is None


NARROW = [
    ("CriticalAddonsOnly", None, "Exists"),
    ("node-role.kubernetes.io/master", "NoSchedule", "Exists"),
    ("node.kubernetes.io/not-ready", "NoSchedule", "Exists"),
]
WIDE = [(None, "NoSchedule", "Exists"), ("CriticalAddonsOnly", None, "Exists"), (None, "NoExecute", "Exists")]


@pytest.mark.parametrize(
    ("text", "tolerations"),
    [
        (OLD, WIDE),
        ("kr116.k8s.local:kops=1.16,networking=kube-router,nodes=1,pods=1", NARROW),
        (LEGACY, NARROW),
        ("kr118.k8s.local:kops=1.18,networking=kube-router,nodes=1,pods=1", WIDE),
        ("kr121.k8s.local:networking=kube-router,nodes=1,pods=1", WIDE),
    ],
)
def test_kube_router_tolerations_per_kops_version(seeded: Any, text: str, tolerations: list[Any]) -> None:
    cluster = seeded(text)
    ds = cluster.apps.read_namespaced_daemon_set("kube-router", "kube-system")

    # Then kOps 1.16/1.17's kube-router tolerates neither custom NoSchedule taints nor NoExecute
    assert [(t.key, t.effect, t.operator) for t in ds.spec.template.spec.tolerations] == tolerations
    assert "calico-node" not in cluster.kube.daemonsets


def test_kube_router_daemonset_only_with_kube_router(seeded: Any) -> None:
    cluster = seeded(DEFAULT)
    names = {d.metadata.name for d in cluster.apps.list_namespaced_daemon_set("kube-system").items}
    assert "kube-router" not in names


def test_status_is_written_through_the_subresource_when_the_server_drops_it(seeded: Any) -> None:
    # Given a server that ignores status on create (like a real kube-apiserver for pods)
    cluster = seeded(NO_AUTH)
    writer = ApiWriter(cluster.api)

    def create_without_status(namespace: str, body: dict[str, Any], **kwargs: Any) -> Any:
        return writer.core.create_namespaced_pod(namespace, {k: v for k, v in body.items() if k != "status"}, **kwargs)

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "late-status", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.21.6"}]},
    }

    # When the writer creates it with a Running status
    created = writer.create(
        pod,
        create_without_status,
        status={"phase": "Running"},
        patch_status=writer.core.patch_namespaced_pod_status,
        status_key="phase",
    )

    # Then the status arrives through PATCH /status
    assert created["status"]["phase"] == "Running"
    assert cluster.core.read_namespaced_pod("late-status", "default").status.phase == "Running"
    assert any(r.method == "PATCH" and r.path.endswith("/late-status/status") for r in cluster.emulator.requests)


@pytest.mark.parametrize(
    ("networking", "daemonset"),
    [
        ("cilium", "cilium"),
        ("weave", "weave-net"),
        ("flannel", "kube-flannel-ds"),
        ("amazon-vpc-routed-eni", "aws-node"),
        ("kubenet", None),
    ],
)
def test_every_networking_provider_seeds_its_daemonset(seeded: Any, networking: str, daemonset: str | None) -> None:
    # Given a small cluster per CNI, the kubenet one without application pods
    pods = 0 if networking == "kubenet" else 1
    cluster = seeded(f"{networking.replace('-', '')[:12]}.k8s.local:networking={networking},nodes=1,pods={pods}")

    # Then the CNI's DaemonSet exists next to the authenticator's (kubenet has none: the kubelet does it)
    expected = ("aws-iam-authenticator",) if daemonset is None else (daemonset, "aws-iam-authenticator")
    assert cluster.kube.daemonsets == expected
    worker = cluster.kube.node_name(cluster.aws.workers[0].instance_id)
    assert cluster.kube.pods_by_node[worker] == PodCounts(
        mirror=1, daemonset=0 if daemonset is None else 1, replicaset=pods, job=1
    )

    # And application pods get addresses from the pod network (the VPC CNI: from the VPC)
    for pod in cluster.core.list_namespaced_pod("shop").items:
        prefix = "172.20." if networking == "amazon-vpc-routed-eni" else "100.96."
        assert pod.status.pod_ip.startswith(prefix)
