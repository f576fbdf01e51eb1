"""InstallAgent logic: the agent's objects exactly as listed, idempotent, the API key only in its Secret."""

import base64
import json
from typing import Any

import pytest

from kops_lambda.errors import AgentApiKeyMissing
from kops_lambda.logic.cluster.agent import install_agent
from kops_lambda.models.cluster import AgentInstallOutcome

from .conftest import API_KEY, REGION, STATE_STORE, Cluster, MakeCluster, aws_client, dumps

NS = "castai-agent"
RBAC = "rbac.authorization.k8s.io/v1"
API_URL = "https://api.cast.ai"
READ = ["get", "list", "watch"]
EXPECTED_CLUSTER_RULES = [
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
EXPECTED_ORDER = [
    ("Namespace", "castai-agent", None),
    ("ServiceAccount", "castai-agent", NS),
    ("Secret", "castai-agent", NS),
    ("ClusterRole", "castai-agent", None),
    ("ClusterRoleBinding", "castai-agent", None),
    ("Role", "castai-agent", NS),
    ("RoleBinding", "castai-agent", NS),
    ("ResourceQuota", "castai-agent-critical-pods", NS),
    ("ConfigMap", "castai-agent-autoscaler", NS),
    ("Deployment", "castai-agent", NS),
]


def install(cluster: Cluster, **input_overrides: Any) -> AgentInstallOutcome:
    return install_agent(
        cluster.api,
        aws_client("secretsmanager"),
        onboard=cluster.onboard_input(**input_overrides),
        facts=cluster.facts,
        api_url=API_URL,
    )


def get(cluster: Cluster, ref: str, name: str, namespace: str | None = NS) -> dict[str, Any]:
    return cluster.object(ref, namespace, name)


@pytest.fixture(scope="module")
def installed(make_cluster: MakeCluster) -> tuple[Cluster, AgentInstallOutcome]:
    cluster = make_cluster("kops=1.21")
    return cluster, install(cluster)


def test_every_listed_object_is_created_in_order(installed: tuple[Cluster, AgentInstallOutcome]) -> None:
    # Given / When: the agent installed on a kOps 1.21 cluster
    cluster, outcome = installed
    # Then the output lists each object, created, namespace first and Deployment last
    assert [(o.kind, o.name, o.namespace) for o in outcome.result.objects] == EXPECTED_ORDER
    assert {o.status for o in outcome.result.objects} == {"created"}
    for kind, name, namespace in EXPECTED_ORDER:
        labels = cluster.object(_ref(kind), namespace, name)["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "kops-onboard"


def _ref(kind: str) -> str:
    return {
        "Namespace": "v1/namespaces",
        "ServiceAccount": "v1/serviceaccounts",
        "Secret": "v1/secrets",
        "ConfigMap": "v1/configmaps",
        "ResourceQuota": "v1/resourcequotas",
        "Deployment": "apps/v1/deployments",
        "ClusterRole": f"{RBAC}/clusterroles",
        "ClusterRoleBinding": f"{RBAC}/clusterrolebindings",
        "Role": f"{RBAC}/roles",
        "RoleBinding": f"{RBAC}/rolebindings",
    }[kind]


def test_rbac_is_exactly_the_listed_read_access_and_the_autoscaler_patch(
    installed: tuple[Cluster, AgentInstallOutcome],
) -> None:
    cluster, _ = installed
    # Then the ClusterRole reads only the listed resources, plus leases for leader election
    cluster_role = get(cluster, f"{RBAC}/clusterroles", "castai-agent", None)
    assert cluster_role["rules"] == EXPECTED_CLUSTER_RULES
    granted = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert not granted & {"secrets", "configmaps", "*"}
    # And the Role only lets the autoscaler patch the agent's own Deployment
    role = get(cluster, f"{RBAC}/roles", "castai-agent")
    assert role["rules"] == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["castai-agent"], "verbs": ["patch"]}
    ]
    # And both are bound to the agent's ServiceAccount only
    subject = [{"kind": "ServiceAccount", "name": "castai-agent", "namespace": NS}]
    crb = get(cluster, f"{RBAC}/clusterrolebindings", "castai-agent", None)
    rb = get(cluster, f"{RBAC}/rolebindings", "castai-agent")
    assert crb["subjects"] == subject and rb["subjects"] == subject
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "castai-agent"}
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "castai-agent"}


def test_quota_and_autoscaler_ladder_are_the_charts(installed: tuple[Cluster, AgentInstallOutcome]) -> None:
    cluster, _ = installed
    # Then the quota admits system-cluster-critical pods in the namespace
    quota = get(cluster, "v1/resourcequotas", "castai-agent-critical-pods")
    assert quota["spec"] == {
        "scopeSelector": {
            "matchExpressions": [
                {"operator": "In", "scopeName": "PriorityClass", "values": ["system-cluster-critical"]}
            ]
        }
    }
    # And the cpvpa config is the linear ladder: +256Mi per 20 nodes or 480 cores, from 0 to 8Gi
    config = json.loads(get(cluster, "v1/configmaps", "castai-agent-autoscaler")["data"]["castai-agent-autoscaler"])
    ladder = {"base": "0", "max": "8Gi", "step": "256Mi", "nodesPerStep": 20, "coresPerStep": 480}
    assert config == {"agent": {"requests": {"memory": ladder}, "limits": {"memory": ladder}}}


def test_deployment_runs_the_agent_for_kops_with_its_autoscaler(installed: tuple[Cluster, AgentInstallOutcome]) -> None:
    cluster, _ = installed
    spec = get(cluster, "apps/v1/deployments", "castai-agent")["spec"]["template"]["spec"]
    agent, autoscaler = spec["containers"]
    # Then the agent has the real image and the chart's kOps settings, the key from the Secret
    assert agent["image"] == "us-docker.pkg.dev/castai-hub/library/agent:v0.48.1"
    assert {e["name"]: e["value"] for e in agent["env"]} == {
        "API_URL": API_URL,
        "PROVIDER": "kops",
        "KOPS_CSP": "aws",
        "KOPS_REGION": REGION,
        "KOPS_CLUSTER_NAME": cluster.name,
        "KOPS_STATE_STORE": STATE_STORE,
    }
    assert agent["envFrom"] == [{"secretRef": {"name": "castai-agent"}}]
    # And cpvpa sizes it from the ConfigMap, allowed by the Role
    assert autoscaler["image"] == "registry.k8s.io/cpa/cpvpa:v0.8.4"
    assert "--target=deployment/castai-agent" in autoscaler["command"]
    assert "--config-file=/etc/config/castai-agent-autoscaler" in autoscaler["command"]
    # (a real API server adds defaults such as configMap.defaultMode: compare what we wrote)
    assert [(v["name"], v["configMap"]["name"]) for v in spec["volumes"]] == [
        ("autoscaler-config", "castai-agent-autoscaler")
    ]
    assert spec["serviceAccountName"] == "castai-agent"
    assert spec["priorityClassName"] == "system-cluster-critical"


def test_the_api_key_is_in_the_secret_and_nowhere_in_the_results(
    installed: tuple[Cluster, AgentInstallOutcome],
) -> None:
    cluster, outcome = installed
    secret = get(cluster, "v1/secrets", "castai-agent")
    assert base64.b64decode(secret["data"]["API_KEY"]).decode() == API_KEY
    assert API_KEY not in dumps(outcome.result.model_dump(mode="json"))
    assert API_KEY not in dumps(outcome.registry_resources())
    encoded = base64.b64encode(API_KEY.encode()).decode()
    assert encoded not in dumps(outcome.registry_resources())


def test_a_rerun_reports_everything_unchanged_and_writes_nothing(make_cluster: MakeCluster) -> None:
    # Given an installed agent whose autoscaler has since set memory requests on it
    cluster = make_cluster("kops=1.21")
    install(cluster)

    def cpvpa_sized(deployment: dict[str, Any]) -> None:
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        resources["requests"]["memory"] = "256Mi"
        resources["limits"]["memory"] = "256Mi"

    cluster.kube.store.mutate("apps/v1/deployments", NS, "castai-agent", cpvpa_sized)
    cluster.kube.clear_requests()
    # When the step runs again
    outcome = install(cluster)
    # Then every object is unchanged and no write was made (we do not fight the autoscaler)
    assert {o.status for o in outcome.result.objects} == {"unchanged"}
    assert cluster.writes() == []


def test_drift_is_put_back_and_only_what_drifted_is_updated(make_cluster: MakeCluster) -> None:
    # Given an installed agent whose image was changed and whose API key was rotated since
    cluster = make_cluster("kops=1.21")
    install(cluster)
    cluster.kube.settle()  # a real cluster's controllers have long finished with the Deployment by then
    cluster.kube.store.mutate(
        "apps/v1/deployments",
        NS,
        "castai-agent",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="example.com/other:latest"),
    )
    cluster.kube.store.mutate(
        "v1/secrets", NS, "castai-agent", lambda s: s["metadata"]["labels"].update({"team": "platform"})
    )
    sm = aws_client("secretsmanager")
    rotated = sm.create_secret(Name=f"kops-onboard/agent-api-key-rotated-{cluster.name}", SecretString="new-key-123")
    cluster.kube.clear_requests()
    # When the step runs again
    outcome = install(cluster, agent_api_key_secret_arn=rotated["ARN"])
    # Then the Deployment and the Secret are updated, the rest unchanged
    statuses = {o.kind: o.status for o in outcome.result.objects}
    assert statuses.pop("Deployment") == "updated"
    assert statuses.pop("Secret") == "updated"
    assert set(statuses.values()) == {"unchanged"}
    deployment = get(cluster, "apps/v1/deployments", "castai-agent")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("agent:v0.48.1")
    secret = get(cluster, "v1/secrets", "castai-agent")
    assert base64.b64decode(secret["data"]["API_KEY"]).decode() == "new-key-123"
    # And labels others added are kept
    assert secret["metadata"]["labels"]["team"] == "platform"
    # And each update carried the resourceVersion it read
    # (on a real cluster a controller may write the Deployment's status meanwhile: a 409, re-read and retried)
    puts = [r for r in cluster.writes() if r.method == "PUT"]
    assert all(r.body["metadata"]["resourceVersion"] for r in puts)
    assert sorted(r.path.rsplit("/", 2)[-2] for r in puts if r.status == 200) == ["deployments", "secrets"]
    assert {r.status for r in puts} <= {200, 409}


def test_a_concurrent_update_is_retried(make_cluster: MakeCluster) -> None:
    # Given a drifted Deployment that someone else also updates between our read and our write
    cluster = make_cluster("kops=1.21")
    install(cluster)
    cluster.kube.settle()
    store = cluster.kube.store
    store.mutate("apps/v1/deployments", NS, "castai-agent", lambda d: d["spec"].update(replicas=3))
    fired: list[bool] = []

    def other_writer(request: Any) -> None:
        if request.method == "PUT" and request.path.endswith("/deployments/castai-agent") and not fired:
            fired.append(True)
            store.mutate(
                "apps/v1/deployments",
                NS,
                "castai-agent",
                lambda d: d["metadata"].update(annotations={"someone": "else"}),
            )

    cluster.kube.before_request(other_writer)
    cluster.kube.clear_requests()
    # When we converge it
    outcome = install(cluster)
    # Then the first PUT got 409, the second (after a fresh read) succeeded, keeping the other change
    statuses = [r.status for r in cluster.writes()]
    assert statuses[0] == 409 and statuses[-1] == 200 and set(statuses[1:-1]) <= {409}, statuses
    deployment = get(cluster, "apps/v1/deployments", "castai-agent")
    assert deployment["spec"]["replicas"] == 1
    # (the other writer dropped the deployment controller's revision annotation, which it may have put back since)
    annotations = deployment["metadata"]["annotations"]
    assert annotations["someone"] == "else"
    assert set(annotations) <= {"someone", "deployment.kubernetes.io/revision"}
    assert {o.kind: o.status for o in outcome.result.objects}["Deployment"] == "updated"


def test_before_kops_1_17_no_system_priority_outside_kube_system(make_cluster: MakeCluster) -> None:
    # Given a kOps 1.15 cluster (Kubernetes 1.15 refuses system-* priority classes outside kube-system)
    cluster = make_cluster("kops=1.15")
    # When the agent is installed
    outcome = install(cluster)
    # Then the Deployment has no priority class and no quota is created for one
    spec = get(cluster, "apps/v1/deployments", "castai-agent")["spec"]["template"]["spec"]
    assert "priorityClassName" not in spec
    assert cluster.find("v1/resourcequotas", NS, "castai-agent-critical-pods") is None
    assert "ResourceQuota" not in {o.kind for o in outcome.result.objects}


def test_without_a_state_store_the_agent_discovers_its_kops_settings(make_cluster: MakeCluster) -> None:
    # Given no KOPS_STATE_STORE in the input
    cluster = make_cluster("kops=1.21")
    # When the agent is installed
    install(cluster, state_store=None)
    # Then none of the agent's KOPS_* settings is set (it requires all four or none)
    agent = get(cluster, "apps/v1/deployments", "castai-agent")["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in agent["env"]] == ["API_URL", "PROVIDER"]


@pytest.mark.parametrize("value", ["", "   ", '{"other": "x"}'])
def test_an_empty_api_key_secret_is_a_typed_error_before_any_write(make_cluster: MakeCluster, value: str) -> None:
    cluster = make_cluster("kops=1.21")
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(Name=f"kops-onboard/empty-key-{abs(hash(value))}-{cluster.name}", SecretString=value or "x")
    if not value:
        sm.put_secret_value(SecretId=arn["ARN"], SecretString=" ")
    with pytest.raises(AgentApiKeyMissing, match="holds no API key"):
        install(cluster, agent_api_key_secret_arn=arn["ARN"])
    assert cluster.writes() == []


def test_a_missing_api_key_secret_names_it(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.21")
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:kops-onboard/nope-AbCdEf"
    with pytest.raises(AgentApiKeyMissing, match="kops-onboard/nope"):
        install(cluster, agent_api_key_secret_arn=missing)
    assert cluster.writes() == []
