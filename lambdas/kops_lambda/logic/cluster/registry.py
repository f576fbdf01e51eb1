"""Registry records of the in-cluster steps: only what they changed (a rerun keeps earlier backups)."""

from typing import Any

from kops_lambda.logic.registry import record_resources


def record_changes(
    table: Any, *, region: str, cluster_name: str, execution_id: str, resources: dict[str, dict[str, Any]]
) -> bool:
    """record_resources when there is something to record; returns whether it wrote."""
    if not resources:
        return False
    record_resources(table, region=region, cluster_name=cluster_name, execution_id=execution_id, resources=resources)
    return True
