"""The cluster registry (DynamoDB): one item per onboarded cluster."""

from datetime import UTC, datetime
from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors


def cluster_key(region: str, cluster_name: str) -> str:
    return f"{region}#{cluster_name}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_onboarding(
    table: Any,
    *,
    region: str,
    cluster_name: str,
    execution_id: str,
    kubeconfig_secret_arn: str,
    facts: dict[str, Any],
) -> None:
    """Mark the cluster as being onboarded by this execution (created if absent)."""
    with translated_aws_errors("registry update"):
        table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression=(
                "SET cluster_name = :name, #region = :region, #status = :status, execution_id = :exec, "
                "kubeconfig_secret_arn = :kube, facts = :facts, updated_at = :now, "
                "created_at = if_not_exists(created_at, :now), #resources = if_not_exists(#resources, :empty)"
            ),
            ExpressionAttributeNames={"#status": "status", "#region": "region", "#resources": "resources"},
            ExpressionAttributeValues={
                ":name": cluster_name,
                ":region": region,
                ":status": "ONBOARDING",
                ":exec": execution_id,
                ":kube": kubeconfig_secret_arn,
                ":facts": facts,
                ":now": now_iso(),
                ":empty": {},
            },
        )


def record_resources(
    table: Any, *, region: str, cluster_name: str, execution_id: str, resources: dict[str, dict[str, Any]]
) -> None:
    """Record what exists for the cluster and which execution created it (the base of rollback/offboarding)."""
    names = {f"#r{i}": key for i, key in enumerate(resources)}
    values = {f":r{i}": {**value, "execution_id": execution_id} for i, value in enumerate(resources.values())}
    assignments = ", ".join(f"#resources.{name} = :r{i}" for i, name in enumerate(names))
    with translated_aws_errors("registry update"):
        table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression=f"SET {assignments}, updated_at = :now",
            ConditionExpression="attribute_exists(cluster_key)",
            ExpressionAttributeNames={"#resources": "resources", **names},
            ExpressionAttributeValues={**values, ":now": now_iso()},
        )


def mark_onboarded(table: Any, *, region: str, cluster_name: str, execution_id: str) -> dict[str, Any]:
    with translated_aws_errors("registry update"):
        item = table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression="SET #status = :status, execution_id = :exec, updated_at = :now",
            ConditionExpression="attribute_exists(cluster_key)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": "ONBOARDED", ":exec": execution_id, ":now": now_iso()},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return {"cluster_key": item["cluster_key"], "status": item["status"], "updated_at": item["updated_at"]}


def get_cluster(table: Any, *, region: str, cluster_name: str) -> dict[str, Any] | None:
    with translated_aws_errors("registry read"):
        item = table.get_item(Key={"cluster_key": cluster_key(region, cluster_name)}, ConsistentRead=True)
    found: dict[str, Any] | None = item.get("Item")
    return found


def drainer_secret_arn(item: dict[str, Any]) -> str | None:
    """The Spot handler's credential for the cluster, as IssueDrainerCredential recorded it (None: not yet)."""
    value = ((item.get("resources") or {}).get("drainer") or {}).get("secret_arn")
    return str(value) if value else None
