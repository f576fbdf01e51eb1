"""The registry's part in rollback and offboarding.

* Rollback puts the cluster's item back as the baseline saw it (deleted when there was none), unless
  another execution has taken the cluster over since, then discards the baseline.
* Offboarding starts by finding the cluster (unknown → ClusterNotFound) and ends with a tombstone:
  status OFFBOARDED and the names needed to find the cluster again, nothing else (no resources, no
  backups). Keeping the item, rather than deleting it, is what lets a second offboarding succeed as a
  no-op while a cluster that was never onboarded stays a typed error.
"""

from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import STATUS_OFFBOARDED, STATUS_ONBOARDED, STATUS_ONBOARDING
from kops_lambda.errors import ClusterNotFound
from kops_lambda.logic.registry import cluster_key, get_cluster, is_cluster_key, now_iso, registered_cluster
from kops_lambda.logic.rollback.baseline import (
    discard_baseline,
    discard_cluster_baselines,
    load_baseline,
)
from kops_lambda.logic.rollback.report import Report, plain
from kops_lambda.models.registry import RegisteredCluster
from kops_lambda.models.rollback import CleanupSummary

ACTIVE_STATUSES = frozenset({STATUS_ONBOARDING, STATUS_ONBOARDED})


def other_clusters(table: Any, own_key: str) -> list[str]:
    """Keys of the other clusters that are onboarded or being onboarded (they use the shared entities)."""
    found: list[str] = []
    options: dict[str, Any] = {
        "ProjectionExpression": "cluster_key, #status",
        "ExpressionAttributeNames": {"#status": "status"},
    }
    with translated_aws_errors("registry scan"):
        while True:
            page = table.scan(**options)
            found += [
                str(item["cluster_key"])
                for item in page.get("Items", [])
                if item["cluster_key"] != own_key
                and is_cluster_key(str(item["cluster_key"]))
                and item.get("status") in ACTIVE_STATUSES
            ]
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def rollback_registry(table: Any, *, execution_id: str) -> CleanupSummary:
    report = Report()
    baseline = load_baseline(table, execution_id)
    if baseline is None:
        report.kept.append("registry: no baseline of this execution, so nothing of it to undo")
        return report.summary()
    key = baseline.cluster_key
    # Only while the item is still ours: another execution that started since owns it now.
    condition = {
        "ConditionExpression": "attribute_not_exists(cluster_key) OR execution_id = :exec",
        "ExpressionAttributeValues": {":exec": execution_id},
    }
    current = get_cluster(table, region=baseline.region, cluster_name=baseline.cluster_name)
    try:
        with translated_aws_errors("registry rollback"):
            if current is None and baseline.registry_item is None:
                pass  # the run failed before it registered the cluster
            elif current is not None and plain(current) == baseline.registry_item:
                pass  # the run failed before it changed the item
            elif baseline.registry_item is None:
                table.delete_item(Key={"cluster_key": key}, **condition)
                report.removed.append(f"registry item {key}")
            else:
                table.put_item(Item=baseline.registry_item, **condition)
                report.restored.append(f"registry item {key} (status {baseline.registry_item.get('status')})")
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        report.kept.append(f"registry item {key}: another execution has taken the cluster over")
    discard_baseline(table, execution_id)
    return report.summary()


def find_cluster(table: Any, *, region: str, cluster_name: str) -> RegisteredCluster:
    record = registered_cluster(table, region=region, cluster_name=cluster_name)
    if record is None:
        raise ClusterNotFound(
            f"cluster {cluster_name} in {region} is not in the registry: it was never onboarded here, "
            "so there is nothing to offboard"
        )
    return RegisteredCluster(
        cluster_key=record.cluster_key,
        cluster_name=record.cluster_name or cluster_name,
        region=record.region or region,
        status=record.status,
        kubeconfig_secret_arn=record.kubeconfig_secret_arn,
    )


def record_offboarded(table: Any, *, cluster: RegisteredCluster, execution_id: str) -> CleanupSummary:
    report = Report()
    tombstone: dict[str, Any] = {
        "cluster_key": cluster_key(cluster.region, cluster.cluster_name),
        "cluster_name": cluster.cluster_name,
        "region": cluster.region,
        "status": STATUS_OFFBOARDED,
        "execution_id": execution_id,
        "updated_at": now_iso(),
    }
    if cluster.kubeconfig_secret_arn:
        tombstone["kubeconfig_secret_arn"] = cluster.kubeconfig_secret_arn
    with translated_aws_errors("registry update"):
        table.put_item(Item=tombstone)
    key = tombstone["cluster_key"]
    report.removed.append(f"registry record of {key} (a tombstone with status {STATUS_OFFBOARDED} remains)")
    discarded = discard_cluster_baselines(table, tombstone["cluster_key"])
    if discarded:
        report.removed.append(f"{discarded} rollback baseline(s) of the cluster")
    return report.summary()
