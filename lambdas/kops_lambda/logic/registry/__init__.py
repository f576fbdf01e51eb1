"""The cluster registry (DynamoDB): one item per onboarded cluster, keyed `<region>#<cluster>`; read typed
(models/registry.ClusterRecord) by its readers, raw where a step keeps or compares the whole item. Its
rollback and offboarding side is `rollback.py` beside this module."""

from datetime import UTC, datetime
from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import BASELINE_KEY_PREFIX, CREATION_MARKER_PREFIX, LEASE_KEY_PREFIX, STATUS_ONBOARDED
from kops_lambda.models.registry import ClusterRecord


def cluster_key(region: str, cluster_name: str) -> str:
    return f"{region}#{cluster_name}"


def is_cluster_key(key: str) -> bool:
    """Whether an item of the table is a cluster's: rollback baselines, cluster leases and creation markers
    share the table under keys of their own."""
    return not key.startswith((BASELINE_KEY_PREFIX, LEASE_KEY_PREFIX, CREATION_MARKER_PREFIX))


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
    admin_kubeconfig: dict[str, Any],
) -> None:
    """Mark the cluster as being onboarded by this execution (created if absent). `admin_kubeconfig`: when
    the kubeconfig secret's credential expires (`kops-onboard status` shows it)."""
    with translated_aws_errors("registry update"):
        table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression=(
                "SET cluster_name = :name, #region = :region, #status = :status, execution_id = :exec, "
                "kubeconfig_secret_arn = :kube, facts = :facts, admin_kubeconfig = :admin, updated_at = :now, "
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
                ":admin": admin_kubeconfig,
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


def mark_onboarded(
    table: Any, *, region: str, cluster_name: str, execution_id: str, options: dict[str, Any]
) -> dict[str, Any]:
    """ONBOARDED, with the input's `options` it was onboarded with (the drift check plans with them)."""
    with translated_aws_errors("registry update"):
        item = table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression="SET #status = :status, execution_id = :exec, updated_at = :now, #options = :options",
            ConditionExpression="attribute_exists(cluster_key)",
            ExpressionAttributeNames={"#status": "status", "#options": OPTIONS_ATTRIBUTE},
            ExpressionAttributeValues={
                ":status": STATUS_ONBOARDED,
                ":exec": execution_id,
                ":now": now_iso(),
                ":options": options,
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return {"cluster_key": item["cluster_key"], "status": item["status"], "updated_at": item["updated_at"]}


# What the canary may read of a cluster's item (its role's Scan is limited to these attributes).
CANARY_READ_ATTRIBUTES = ("cluster_key", "cluster_name", "region", "status", "resources")
# The one attribute the canary writes (its role's UpdateItem is limited to it and the key).
CANARY_ATTRIBUTE = "canary"
# The onboarding input's options (OnboardInput without plan_only and rotate_access_key), set by RecordOnboarded.
OPTIONS_ATTRIBUTE = "options"
# What the drift check reads: the canary's attributes, the options to plan with and the admin kubeconfig's secret.
DRIFT_READ_ATTRIBUTES = (*CANARY_READ_ATTRIBUTES, OPTIONS_ATTRIBUTE, "kubeconfig_secret_arn")
# The one attribute the drift check writes.
DRIFT_ATTRIBUTE = "drift"


def onboarded_clusters(table: Any, attributes: tuple[str, ...] = CANARY_READ_ATTRIBUTES) -> list[ClusterRecord]:
    """Every ONBOARDED cluster's item, with `attributes` only (what the caller's role may read)."""
    names = {f"#{name}": name for name in attributes}
    options: dict[str, Any] = {
        "Select": "SPECIFIC_ATTRIBUTES",
        "ProjectionExpression": ", ".join(names),
        "FilterExpression": "#status = :onboarded",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":onboarded": STATUS_ONBOARDED},
        "ConsistentRead": True,
    }
    items: list[dict[str, Any]] = []
    with translated_aws_errors("registry scan"):
        while True:
            page = table.scan(**options)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return [ClusterRecord.model_validate(item) for item in items]
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def record_canary_result(table: Any, *, region: str, cluster_name: str, result: dict[str, Any]) -> None:
    """The cluster's last canary result; only that attribute is written, and only on an existing item."""
    _record_attribute(table, CANARY_ATTRIBUTE, region=region, cluster_name=cluster_name, result=result)


def record_drift_result(table: Any, *, region: str, cluster_name: str, result: dict[str, Any]) -> None:
    """The cluster's last drift check; only that attribute is written, and only on an existing item."""
    _record_attribute(table, DRIFT_ATTRIBUTE, region=region, cluster_name=cluster_name, result=result)


def _record_attribute(table: Any, attribute: str, *, region: str, cluster_name: str, result: dict[str, Any]) -> None:
    with translated_aws_errors("registry update"):
        table.update_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            UpdateExpression="SET #attribute = :result",
            ConditionExpression="attribute_exists(cluster_key)",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":result": result},
            ReturnValues="NONE",
        )


# What the access-key rotation reads of one cluster's item, once it holds the lease (its GetItem is limited to it).
STATUS_READ_ATTRIBUTES = ("cluster_key", "status")


def cluster_status(table: Any, *, region: str, cluster_name: str) -> str | None:
    """The cluster's status (ONBOARDED, ...), None when it has no item; nothing else of the item is read."""
    with translated_aws_errors("registry read"):
        item = table.get_item(
            Key={"cluster_key": cluster_key(region, cluster_name)},
            ConsistentRead=True,
            ProjectionExpression="cluster_key, #status",
            ExpressionAttributeNames={"#status": "status"},
        ).get("Item")
    return None if item is None else str(item.get("status"))


def get_cluster(table: Any, *, region: str, cluster_name: str) -> dict[str, Any] | None:
    """The cluster's whole item as stored (for steps that keep or compare it); None when it has none."""
    with translated_aws_errors("registry read"):
        item = table.get_item(Key={"cluster_key": cluster_key(region, cluster_name)}, ConsistentRead=True)
    found: dict[str, Any] | None = item.get("Item")
    return found


def registered_cluster(table: Any, *, region: str, cluster_name: str) -> ClusterRecord | None:
    """The cluster's item, typed; None when it has none."""
    item = get_cluster(table, region=region, cluster_name=cluster_name)
    return None if item is None else ClusterRecord.model_validate(item)


def record_changes(
    table: Any, *, region: str, cluster_name: str, execution_id: str, resources: dict[str, dict[str, Any]]
) -> bool:
    """record_resources when there is something to record; returns whether it wrote."""
    if not resources:
        return False
    record_resources(table, region=region, cluster_name=cluster_name, execution_id=execution_id, resources=resources)
    return True
