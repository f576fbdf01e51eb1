"""A comparable picture of everything onboarding may touch, to prove a rollback or an offboarding leaves the
account and the clusters as they were: `state = account_state(...)`, then `assert_same(before, after)`.

AWS: every IAM user (tags, attached policies, inline policy documents, access keys), every customer managed
policy (default version, versions), every role outside the stack's own (attached policies), EC2 key pairs,
secrets (their current version; secrets scheduled for deletion count as gone), the registry (an OFFBOARDED
tombstone counts as no item). Clusters: the authenticator ConfigMaps' data, every object in the agent's
namespace (a namespace being deleted counts as gone: a real namespace controller empties it once its pods'
grace period is over, tens of seconds later), our ServiceAccounts, Secrets, Roles and RoleBindings in
kube-system, our ClusterRoles and ClusterRoleBindings, and optionally the DaemonSets we patch (kube-router's
tolerations, the authenticator's pod-template annotations: offboarding rolls a MountedFile authenticator,
which is a change by design).
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from kops_lambda.constants import AGENT_NAMESPACE, MANAGED_BY_LABEL, PRODUCT, STATUS_OFFBOARDED
from kops_local.kube.store import ObjectStore

if TYPE_CHECKING:
    from kops_local.system import LocalSystem

STACK_ROLE_PREFIX = "KopsOnboard-"
AGENT_NAMESPACED = (
    "serviceaccounts",
    "secrets",
    "configmaps",
    "resourcequotas",
    "deployments",
    "roles",
    "rolebindings",
)
OUR_CLUSTER_RBAC = ("castai-agent", "kops-onboard:cast-service", "kops-onboard:spot-drainer")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def iam_state(iam: Any) -> dict[str, Any]:
    users = {}
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            name = user["UserName"]
            inline = {
                policy: iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_user_policies(UserName=name)["PolicyNames"]
            }
            users[name] = {
                "tags": {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]},
                "attached": sorted(
                    p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
                ),
                "inline": inline,
                "access_keys": sorted(
                    k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
                ),
            }
    policies = {}
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            versions = iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]
            policies[policy["PolicyName"]] = {
                "default": policy["DefaultVersionId"],
                "versions": sorted(v["VersionId"] for v in versions),
            }
    roles = {}
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            name = role["RoleName"]
            if name.startswith(STACK_ROLE_PREFIX):
                continue
            attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            roles[name] = sorted(p["PolicyArn"] for p in attached)
    return {"users": users, "policies": policies, "roles": roles}


def secrets_state(secretsmanager: Any) -> dict[str, str | None]:
    found = {}
    for page in secretsmanager.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            if secret.get("DeletedDate"):
                continue  # scheduled for deletion: gone for every purpose but a restore
            stages = secret.get("SecretVersionsToStages") or {}
            current = next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)
            found[secret["Name"]] = current
    return found


def registry_state(dynamodb: Any, table: str) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    items = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = _plain({k: deserializer.deserialize(v) for k, v in raw.items()})
            if item.get("status") == STATUS_OFFBOARDED:
                continue  # a tombstone: the cluster is not registered
            items[item["cluster_key"]] = item
    return items


def _ours(obj: Mapping[str, Any]) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT


def cluster_state(store: ObjectStore, *, daemonsets: bool = True) -> dict[str, Any]:
    configmaps = {
        name: (store.get("v1/configmaps", "kube-system", name) or {}).get("data")
        for name in ("aws-auth", "aws-iam-authenticator")
        if store.get("v1/configmaps", "kube-system", name) is not None
    }
    namespace = store.get("v1/namespaces", None, AGENT_NAMESPACE)
    present = namespace is not None and not namespace["metadata"].get("deletionTimestamp")
    agent = {
        plural: sorted(o["metadata"]["name"] for o in store.list(plural, AGENT_NAMESPACE))
        for plural in (AGENT_NAMESPACED if present else ())
    }
    state: dict[str, Any] = {
        "configmaps": configmaps,
        "agent_namespace": present,
        "agent_objects": {k: v for k, v in agent.items() if v},
        "kube_system_ours": sorted(
            f"{plural}/{o['metadata']['name']}"
            for plural in ("serviceaccounts", "secrets", "roles", "rolebindings")
            for o in store.list(plural, "kube-system")
            if _ours(o)
        ),
        "cluster_rbac": sorted(
            f"{plural}/{o['metadata']['name']}"
            for plural in ("clusterroles", "clusterrolebindings")
            for o in store.list(plural)
            if _ours(o) or o["metadata"]["name"] in OUR_CLUSTER_RBAC
        ),
    }
    if daemonsets:
        router = store.get("apps/v1/daemonsets", "kube-system", "kube-router")
        authenticator = store.get("apps/v1/daemonsets", "kube-system", "aws-iam-authenticator")
        template = (authenticator or {}).get("spec", {}).get("template", {})
        state["kube_router_tolerations"] = (
            (router or {}).get("spec", {}).get("template", {}).get("spec", {}).get("tolerations")
        )
        state["authenticator_annotations"] = {
            k: v for k, v in (template.get("metadata", {}).get("annotations") or {}).items() if "kops-onboard" in k
        }
    return state


def account_state(
    *,
    iam: Any,
    ec2: Any,
    secretsmanager: Any,
    dynamodb: Any,
    registry_table: str,
    clusters: Mapping[str, ObjectStore],
    daemonsets: bool = True,
) -> dict[str, Any]:
    return {
        "iam": iam_state(iam),
        "key_pairs": {p["KeyName"]: p["KeyPairId"] for p in ec2.describe_key_pairs()["KeyPairs"]},
        "secrets": secrets_state(secretsmanager),
        "registry": registry_state(dynamodb, registry_table),
        "clusters": {name: cluster_state(store, daemonsets=daemonsets) for name, store in clusters.items()},
    }


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Every path where the two states differ, with both values (for a readable assertion)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                found.append(f"{where}: gone (was {before[key]!r:.200})")
            elif key not in before:
                found.append(f"{where}: new ({after[key]!r:.200})")
            else:
                found += differences(before[key], after[key], where)
        return found
    if before != after:
        return [f"{path}: {before!r:.200} -> {after!r:.200}"]
    return []


def assert_same(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    found = differences(before, after)
    assert not found, "the state differs:\n" + "\n".join(found)


def active_clusters(dynamodb: Any, table: str) -> list[str]:
    """Names of the clusters the registry holds as onboarded or being onboarded."""
    return sorted(
        str(item["cluster_name"])
        for key, item in registry_state(dynamodb, table).items()
        if not key.startswith("rollback-baseline#") and item.get("status") in ("ONBOARDING", "ONBOARDED")
    )


def system_state(system: "LocalSystem", *, daemonsets: bool = True) -> dict[str, Any]:
    """account_state of the local system: its account and every cluster it seeded."""
    return account_state(
        iam=system.aws.client("iam"),
        ec2=system.aws.client("ec2"),
        secretsmanager=system.aws.client("secretsmanager"),
        dynamodb=system.aws.client("dynamodb"),
        registry_table=system.output("RegistryTableName"),
        clusters={name: cluster.api_server.store for name, cluster in system.clusters.items()},
        daemonsets=daemonsets,
    )
