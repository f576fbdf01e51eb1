"""RBAC proven with real identities on the real control plane: kube-apiserver's authorizer, not our reading
of the rules, decides. The identities are the ones onboarding maps (username and groups read back from the
authenticator's mapping it wrote), the agent's ServiceAccount with a real TokenRequest token, and the Spot
handler's drainer identity running the product's own cordon, drain and Event code.

The expected permissions are written here independently of `logic/cluster/rbac.py` and the agent's
manifests: removing a needed verb from a ClusterRole fails a row, and so does granting a forbidden one.
These tests need an authorizer, so they always run on the real control plane (whatever `--kube` says).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from kops_lambda.adapters.kube import BearerToken
from kops_lambda.constants import SPOT_DRAINER_GROUP, SPOT_TAINT_KEY
from kops_lambda.logic.spot.drain import drain_node
from kops_lambda.logic.spot.node import InstanceInfo, find_node, node_patch, patch_node
from kops_lambda.logic.spot.node_events import NodeEventRecorder
from kops_lambda.settings import SpotAction
from kops_local.controlplane import RealKubeCluster, pinned_binaries
from tests.cluster.conftest import TOKEN as CLUSTER_TOKEN
from tests.cluster.conftest import Cluster, MakeCluster
from tests.cluster.test_agent import install
from tests.cluster.test_identity_mapping import map_identity
from tests.kube_clients import ImpersonatingClient
from tests.kube_status import status_of

AGENT_NAMESPACE = "castai-agent"
AGENT_ACCOUNT = "castai-agent"

# (verb, resource, namespace or None for all/cluster-scoped, resource name or None) → allowed?
CAST_SERVICE_EXPECTED = [
    ("list", "pods", None, None, True),
    ("watch", "nodes", None, None, True),
    ("get", "configmaps", "kube-system", None, True),
    ("list", "deployments.apps", None, None, True),
    ("list", "poddisruptionbudgets.policy", None, None, True),
    ("patch", "nodes", None, None, True),  # cordon and taint
    ("delete", "nodes", None, None, True),  # remove a drained node
    ("create", "pods/eviction", "default", None, True),  # drain, PDBs honoured
    ("get", "secrets", "kube-system", None, False),
    ("list", "secrets", None, None, False),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None, None, False),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None, None, False),
    ("bind", "clusterroles.rbac.authorization.k8s.io", None, None, False),
    ("impersonate", "users", None, None, False),
    ("impersonate", "groups", None, None, False),
    ("impersonate", "serviceaccounts", None, None, False),
    ("update", "configmaps", "kube-system", "aws-auth", False),
    ("patch", "configmaps", "kube-system", "aws-iam-authenticator", False),
    ("create", "pods", "default", None, False),
    ("delete", "pods", "default", None, False),
    ("create", "serviceaccounts/token", "kube-system", None, False),
    ("create", "pods/exec", "default", None, False),
    ("update", "deployments.apps", "default", None, False),
]

AGENT_EXPECTED = [
    ("list", "pods", None, None, True),
    ("list", "nodes", None, None, True),
    ("list", "deployments.apps", None, None, True),
    ("list", "jobs.batch", None, None, True),
    ("list", "storageclasses.storage.k8s.io", None, None, True),
    ("get", "leases.coordination.k8s.io", AGENT_NAMESPACE, None, True),
    ("patch", "deployments.apps", AGENT_NAMESPACE, "castai-agent", True),  # the autoscaler sizes the agent
    ("patch", "deployments.apps", AGENT_NAMESPACE, "other", False),
    ("patch", "deployments.apps", "default", None, False),
    ("list", "secrets", None, None, False),
    ("patch", "nodes", None, None, False),
    ("delete", "pods", None, None, False),
    ("create", "pods/eviction", "default", None, False),
    ("create", "namespaces", None, None, False),
]

SPOT_DRAINER_EXPECTED = [
    ("get", "nodes", None, None, True),
    ("list", "nodes", None, None, True),
    ("patch", "nodes", None, None, True),
    ("list", "pods", None, None, True),
    ("create", "pods/eviction", "default", None, True),
    ("create", "events", "default", None, True),
    ("delete", "pods", "default", None, False),  # only with the spotForceDelete opt-in
    ("delete", "nodes", None, None, False),
    ("get", "secrets", "kube-system", None, False),
    ("update", "configmaps", "kube-system", "aws-auth", False),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None, None, False),
    ("impersonate", "users", None, None, False),
]


@pytest.fixture(scope="module")
def real(make_cluster: MakeCluster) -> Cluster:
    """A kOps 1.21 cluster (aws-auth backend) on the real control plane, identities mapped, agent installed."""
    cluster = make_cluster("kops=1.21", nodes=2, kube="real")
    assert isinstance(cluster.kube, RealKubeCluster)
    map_identity(cluster)
    install(cluster)
    return cluster


@pytest.fixture(scope="module")
def admin_kubeconfig(real: Cluster) -> Iterator[Path]:
    """The apiserver itself (not the test proxy) as admin, for kubectl's impersonation flags."""
    assert isinstance(real.kube, RealKubeCluster)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "admin.kubeconfig")
        path.write_text(real.kube.admin.kubeconfig(real.name))
        yield path


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = pinned_binaries().path("kubectl")
    return subprocess.run(
        [str(binary), f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True, timeout=30, check=False
    )


def can_i(
    kubeconfig: Path, identity: list[str], verb: str, resource: str, namespace: str | None, name: str | None
) -> bool:
    resource, _, subresource = resource.partition("/")
    target = f"{resource}/{name}" if name else resource
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        scope.append(f"--subresource={subresource}")
    result = kubectl(kubeconfig, "auth", "can-i", verb, target, *scope, *identity)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr  # anything else is an error, not a "no"
    return answer == "yes"


def mapped_user(cluster: Cluster) -> tuple[str, list[str]]:
    """The username and groups onboarding wrote for the cluster's IAM user, read back from aws-auth."""
    data = cluster.configmap("aws-auth")["data"]
    entries = yaml.safe_load(data["mapUsers"])
    (entry,) = [e for e in entries if e.get("userarn") == cluster.user_arn]
    return entry["username"], list(entry["groups"])


def as_flags(username: str, groups: list[str]) -> list[str]:
    return [f"--as={username}", *(f"--as-group={g}" for g in groups)]


def impersonating(cluster: Cluster, username: str, groups: list[str]) -> k8s.CoreV1Api:
    """A client that reaches the cluster through the test proxy as `username` (the admin impersonates it)."""
    api = k8s.ApiClient(cluster.admin.configuration)
    api.default_headers["Impersonate-User"] = username
    api.default_headers["Impersonate-Group"] = groups[0]  # one group per identity here
    return k8s.CoreV1Api(api)


@pytest.mark.parametrize(("verb", "resource", "namespace", "name", "allowed"), CAST_SERVICE_EXPECTED)
def test_the_vendor_users_mapped_identity_can_do_what_the_service_needs_and_nothing_more(
    real: Cluster,
    admin_kubeconfig: Path,
    verb: str,
    resource: str,
    namespace: str | None,
    name: str | None,
    allowed: bool,
) -> None:
    # Given the identity the authenticator gives the cluster's IAM user (as onboarding wrote it)
    username, groups = mapped_user(real)
    assert not any(g.startswith("system:") for g in groups)
    # When the real authorizer is asked, Then it answers as the table says
    assert can_i(admin_kubeconfig, as_flags(username, groups), verb, resource, namespace, name) is allowed


def test_the_vendor_identitys_real_requests_read_but_cannot_touch_secrets_or_the_mapping(real: Cluster) -> None:
    # Given the vendor user's mapped identity
    username, groups = mapped_user(real)
    core = impersonating(real, username, groups)
    # When it makes real requests, Then reads work and secrets, the mapping and impersonation are refused
    assert status_of(lambda: core.list_pod_for_all_namespaces(limit=1)) == 200
    assert status_of(lambda: core.list_node(limit=1)) == 200
    assert status_of(lambda: core.list_secret_for_all_namespaces(limit=1)) == 403
    assert status_of(lambda: core.read_namespaced_secret("castai-agent", AGENT_NAMESPACE)) == 403
    patch = {"data": {"mapUsers": "[]"}}
    assert status_of(lambda: core.patch_namespaced_config_map("aws-auth", "kube-system", patch)) == 403
    # And nothing in its full list of rules names secrets or a wildcard verb on a wildcard resource
    rules = k8s.AuthorizationV1Api(core.api_client).create_self_subject_rules_review(
        {"spec": {"namespace": "kube-system"}}
    )
    for rule in rules.status.resource_rules:
        assert "secrets" not in (rule.resources or []), rule
        assert not ("*" in rule.verbs and "*" in (rule.resources or [])), rule


@pytest.fixture(scope="module")
def agent_token(real: Cluster) -> str:
    """A real, bounded ServiceAccount token for the agent (TokenRequest, as a projected volume would get)."""
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    response = real.kube.store.request(
        "POST", f"/api/v1/namespaces/{AGENT_NAMESPACE}/serviceaccounts/{AGENT_ACCOUNT}/token", request
    )
    token: str = response["status"]["token"]
    return token


@pytest.mark.parametrize(("verb", "resource", "namespace", "name", "allowed"), AGENT_EXPECTED)
def test_the_agents_service_account_reads_and_only_sizes_itself(
    real: Cluster,
    admin_kubeconfig: Path,
    agent_token: str,
    verb: str,
    resource: str,
    namespace: str | None,
    name: str | None,
    allowed: bool,
) -> None:
    # Given the agent's ServiceAccount, authenticated by its own token (not impersonated)
    identity = [f"--token={agent_token}"]
    # When the real authorizer is asked, Then it answers as the table says
    assert can_i(admin_kubeconfig, identity, verb, resource, namespace, name) is allowed


def test_the_agent_token_makes_real_read_requests_and_is_refused_writes(real: Cluster, agent_token: str) -> None:
    # Given a client that sends the agent's ServiceAccount token through the proxy (passed through untouched)
    configuration = k8s.Configuration(
        host=real.kube.url, api_key={"BearerToken": agent_token}, api_key_prefix={"BearerToken": "Bearer"}
    )
    core = k8s.CoreV1Api(k8s.ApiClient(configuration))
    # Then it reads nodes and pods, and cannot write or read secrets
    assert status_of(lambda: core.list_node(limit=1)) == 200
    assert status_of(lambda: core.list_pod_for_all_namespaces(limit=1)) == 200
    assert status_of(lambda: core.list_secret_for_all_namespaces(limit=1)) == 403
    assert status_of(lambda: core.create_namespace({"metadata": {"name": "agent-was-here"}})) == 403
    node = real.kube.store.list("v1/nodes")[0]["metadata"]["name"]
    assert status_of(lambda: core.patch_node(node, {"spec": {"unschedulable": True}})) == 403


@pytest.mark.parametrize(("verb", "resource", "namespace", "name", "allowed"), SPOT_DRAINER_EXPECTED)
def test_the_spot_drainer_identity_has_exactly_the_drain_verbs(
    real: Cluster,
    admin_kubeconfig: Path,
    verb: str,
    resource: str,
    namespace: str | None,
    name: str | None,
    allowed: bool,
) -> None:
    identity = as_flags("kops-onboard:spot-drainer:i-0123456789abcdef0", [SPOT_DRAINER_GROUP])
    assert can_i(admin_kubeconfig, identity, verb, resource, namespace, name) is allowed


def test_the_product_cordons_taints_drains_and_records_events_as_the_drainer_alone(real: Cluster) -> None:
    # Given a worker node with app pods, and a client that is only the Spot drainer
    core = ImpersonatingClient(
        real.kube.url,
        user="kops-onboard:spot-drainer:i-rbac-test",
        group=SPOT_DRAINER_GROUP,
        token=BearerToken(lambda: CLUSTER_TOKEN),
    )
    worker = next(i for i in real.aws.instances if i.role == "node")
    instance = InstanceInfo(worker.instance_id, worker.az, worker.private_dns_name, real.name, worker.asg_name)
    # When the product's own Spot steps run with it: find the node, cordon + taint, record, drain
    found = find_node(core, instance)
    assert found is not None
    node, _ = found
    patch = node_patch(node, action=SpotAction.DRAIN, event_id="rbac-test-event")
    assert patch is not None
    patch_node(core, node["metadata"]["name"], patch)
    with ThreadPoolExecutor(max_workers=1) as executor:
        recorder = NodeEventRecorder(core, node, executor=executor, instance=worker.instance_id)
        recorder.record("SpotInterruption", "drain test as the drainer identity")
        for pending in recorder.pending:
            pending.result()
    report = drain_node(core, node["metadata"]["name"], deadline=time.time() + 20, concurrency=4)
    # Then every step was allowed: the node is cordoned and tainted, the Event exists, the pods were evicted
    stored = real.kube.store.get("v1/nodes", None, node["metadata"]["name"])
    assert stored is not None and stored["spec"]["unschedulable"] is True
    assert any(t["key"] == SPOT_TAINT_KEY for t in stored["spec"]["taints"])
    events = real.kube.store.list("v1/events", field_selector=f"involvedObject.name={node['metadata']['name']}")
    assert [e["reason"] for e in events if e["reason"] == "SpotInterruption"] == ["SpotInterruption"]
    assert report.evicted and not report.left, report
    # And the same identity is refused the cluster's secrets
    same = impersonating(real, "kops-onboard:spot-drainer:i-rbac-test", [SPOT_DRAINER_GROUP])
    assert status_of(lambda: same.list_secret_for_all_namespaces(limit=1)) == 403


def test_our_mapping_rows_cover_every_verb_our_cluster_roles_grant(real: Cluster) -> None:
    # Given the ClusterRoles as written on the cluster
    rbac = "rbac.authorization.k8s.io/v1/clusterroles"
    drainer = real.kube.store.get(rbac, None, SPOT_DRAINER_GROUP)
    assert drainer is not None
    granted = {
        (verb, resource) for rule in drainer["rules"] for resource in rule["resources"] for verb in rule["verbs"]
    }
    # Then every granted (verb, resource) has an "allowed" row above: nothing is granted that nobody checked
    checked = {(verb, resource) for verb, resource, _, _, allowed in SPOT_DRAINER_EXPECTED if allowed}
    assert granted == checked, granted ^ checked
