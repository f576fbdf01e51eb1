"""`make demo`: the local system end to end, told step by step."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client as k8s

from kops_lambda.constants import (
    AGENT_NAMESPACE,
    IAM_USER_PREFIX,
    MANAGED_BY_LABEL,
    PRODUCT,
    SHARED_POLICY_NAME,
    SPOT_EVENT_REASON_DRAIN_COMPLETE,
    SPOT_ROLE_NAME,
)
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import run_execution
from kops_onboard.spot_events import spot_event_entry

T = TypeVar("T")

DEMO_CLUSTER = "demo.k8s.local:kops=1.21,nodes=3,pods=4"


def say(text: str) -> None:
    print(text, flush=True)


def run_demo() -> int:
    from stacks.app_builder import synthesize

    started = time.monotonic()
    say("== 1. Synthesize the CDK app (Docker-free bundling)")
    template = synthesize()
    say(f"   template: {template}")
    with LocalSystem(template=template) as system:
        say(f"== 2. Local AWS on {system.endpoint_url}; stack deployed from cdk.out")
        cluster = system.add_cluster(ClusterSpec.parse(DEMO_CLUSTER))
        say(
            f"   seeded kOps {cluster.spec.kops} cluster {cluster.name}: {len(cluster.aws.instances)} instances, "
            f"API server {cluster.api_server.url}"
        )
        if not _onboard(system, cluster):
            return 1
        if not _spot_warning(system, cluster):
            return 1
        if not _offboard(system, cluster):
            return 1
    say(f"== done in {time.monotonic() - started:.1f} s")
    return 0


def _onboard(system: LocalSystem, cluster: LocalCluster) -> bool:
    say("== 3. Onboarding execution of the synthesized state machine")
    result = run_execution(
        system.aws.client("stepfunctions"),
        system.state_machines["onboard"],
        cluster.onboard_input(),
        name_prefix="demo-onboard",
    )
    say(f"   {result.status} in {result.seconds:.2f} s")
    if result.status != "SUCCEEDED" or result.output is None:
        say(f"   error: {result.error}: {result.cause}")
        return False
    facts = result.output["cluster"]
    say(f"   kOps {facts['kops_version']} (from {facts['kops_version_source']}), VPC {facts['vpc_id']}")
    for group in facts["instance_groups"]:
        say(f"   instance group {group['name']:<22} {group['role']:<6} {len(group['instance_ids'])} instance(s)")
    _show_created(result.output)
    return True


def _show_created(output: dict[str, Any]) -> None:
    """Names and ARNs of what onboarding made; secrets stay in Secrets Manager."""
    iam, key_pair, access_key = output["iam"], output["key_pair"], output["access_key"]
    say(f"   IAM user        {iam['user_arn']} (created: {iam['user_created']})")
    say(f"   policies        {', '.join(arn.rsplit('/', 1)[1] for arn in iam['managed_policy_arns'])}")
    say(f"   shared role     {iam['spot_role_arn']}")
    say(f"   key pair        {key_pair['key_name']} -> private key in {key_pair['private_key_secret_arn']}")
    say(f"   access key      {access_key['access_key_id']} -> stored in {access_key['secret_arn']}")
    mapping = output["identity_mapping"]
    if mapping["configmap"] is None:  # CRD backend: IAMIdentityMapping objects of ours instead
        objects = ", ".join(f"{o['name']} ({o['status']})" for o in mapping["identity_mappings"])
        say(f"   identity map    {mapping['backend']} IAMIdentityMapping {objects}")
    else:
        say(f"   identity map    {mapping['backend']} {mapping['configmap']} ({mapping['configmap_status']})")
    for entry in mapping["mappings"]:
        say(f"                   {entry['arn']} -> {', '.join(entry['groups'])} ({entry['status']})")
    drainer = output["drainer"]
    say(f"   Spot drainer    {drainer['mode']} -> its only credential in {drainer['secret_arn']}")
    agent = output["agent"]
    say(f"   agent           {agent['agent_image']} in namespace {agent['namespace']}")
    for obj in agent["objects"]:
        say(f"                   {obj['kind']:<20} {obj['name']:<28} {obj['status']}")


def _spot_warning(system: LocalSystem, cluster: LocalCluster) -> bool:
    spot = next(i for i in cluster.aws.instances if i.lifecycle == "spot")
    say(f"== 4. EC2 Spot Instance Interruption Warning for {spot.instance_id} put on the event bus")
    events: Any = system.aws.client("events")
    events.put_events(
        Entries=[spot_event_entry(instance_id=spot.instance_id, region=system.region, account=system.aws.account_id)]
    )
    with cluster.api_client() as api:
        core = k8s.CoreV1Api(api)
        node = _wait_for(lambda: _cordoned_node(core, spot.instance_id, spot.az), timeout=30)
    if node is None:
        say("   the node was not cordoned in time")
        return False
    taints = ", ".join(f"{t.key}={t.value}:{t.effect}" for t in node.spec.taints or [])
    say(f"   node {node.metadata.name} cordoned (unschedulable={node.spec.unschedulable}); taints: {taints}")
    system.aws.drain_event_sources(timeout=60)
    return _show_drain(cluster, node.metadata.name)


def _show_drain(cluster: LocalCluster, node_name: str) -> bool:
    """The Kubernetes Events the handler posted on the node, and the pods a drain leaves by design."""
    with cluster.api_client() as api:
        core = k8s.CoreV1Api(api)
        events = [e for e in core.list_event_for_all_namespaces().items if e.involved_object.name == node_name]
        left = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}").items
    for event in events:
        say(f"   event {event.reason}: {event.message}")
    kept = ", ".join(sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in left)) or "none"
    say(f"   pods still on the node (DaemonSet and static pods stay): {kept}")
    if not any(e.reason == SPOT_EVENT_REASON_DRAIN_COMPLETE for e in events):
        say("   the drain did not complete")
        return False
    return True


def _cordoned_node(core: k8s.CoreV1Api, instance_id: str, az: str) -> k8s.V1Node | None:
    for node in core.list_node().items:
        if node.spec.provider_id == f"aws:///{az}/{instance_id}" and node.spec.unschedulable:
            return node
    return None


def _wait_for(probe: Callable[[], T | None], *, timeout: float) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    return None


def _offboard(system: LocalSystem, cluster: LocalCluster) -> bool:
    say("== 5. Offboarding execution: remove everything onboarding made, then check the account is clean")
    result = run_execution(
        system.aws.client("stepfunctions"),
        system.state_machines["offboard"],
        cluster.offboard_input(),
        name_prefix="demo-offboard",
    )
    say(f"   {result.status} in {result.seconds:.2f} s")
    if result.status != "SUCCEEDED" or result.output is None:
        say(f"   error: {result.error}: {result.cause}")
        return False
    for step, summary in result.output.items():
        if not isinstance(summary, dict) or "removed" not in summary:
            continue
        for name in summary["removed"]:
            say(f"   {step:<17} removed {name}")
        for name in summary["kept"]:
            say(f"   {step:<17} kept    {name}")
    leftovers = _leftovers(system, cluster)
    for line in leftovers:
        say(f"   LEFT BEHIND: {line}")
    if leftovers:
        return False
    say("   account clean: no cast-kops-* user or key pair, no CASTKopsPolicyV2, no CastLambdaRoleForSpot,")
    say("   no live secret of the cluster (scheduled for deletion in 7 days), registry: OFFBOARDED,")
    say("   no castai-agent namespace, no kops-onboard RBAC, aws-auth without our entries")
    return True


def _leftovers(system: LocalSystem, cluster: LocalCluster) -> list[str]:
    """Everything of ours still in the account or the cluster (nothing, after an offboarding)."""
    iam, ec2 = system.aws.client("iam"), system.aws.client("ec2")
    sm, dynamodb = system.aws.client("secretsmanager"), system.aws.client("dynamodb")
    users = iam.list_users()["Users"]
    found = [f"IAM user {u['UserName']}" for u in users if u["UserName"].startswith(IAM_USER_PREFIX)]
    found += [
        f"IAM policy {p['PolicyName']}"
        for p in iam.list_policies(Scope="Local")["Policies"]
        if p["PolicyName"] == SHARED_POLICY_NAME
    ]
    found += [f"IAM role {r['RoleName']}" for r in iam.list_roles()["Roles"] if r["RoleName"] == SPOT_ROLE_NAME]
    found += [
        f"EC2 key pair {k['KeyName']}"
        for k in ec2.describe_key_pairs()["KeyPairs"]
        if k["KeyName"].startswith(IAM_USER_PREFIX)
    ]
    prefix = f"kops-onboard/clusters/{cluster.name}/"
    found += [
        f"secret {s['Name']}"
        for s in sm.list_secrets()["SecretList"]  # without the ones scheduled for deletion
        if s["Name"].startswith(prefix) and not s["Name"].startswith(f"{prefix}kubeconfig")
    ]
    item = dynamodb.get_item(
        TableName=system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{cluster.aws.region}#{cluster.name}"}},
    ).get("Item")
    if item is not None and item["status"]["S"] != "OFFBOARDED":
        found.append(f"registry item with status {item['status']['S']}")
    store = cluster.api_server.store
    if store.get("v1/namespaces", None, AGENT_NAMESPACE) is not None:
        found.append(f"namespace {AGENT_NAMESPACE}")
    for plural in ("clusterroles", "clusterrolebindings"):
        found += [
            f"{plural} {o['metadata']['name']}"
            for o in store.list(plural)
            if (o["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT
        ]
    auth = store.get("v1/configmaps", "kube-system", "aws-auth") or {}
    if any(IAM_USER_PREFIX in value for value in (auth.get("data") or {}).values()):
        found.append("aws-auth entries of our IAM user")
    return found
