"""`kops-onboard status`: the registry, with when each admin kubeconfig expires, the last Spot canary result and
the last drift check (each drifted resource below the table, widening called out), and the regions the
deployment's Spot rules cover."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from kops_lambda.logic.registry import is_cluster_key
from kops_onboard.commands.common import Exit, aws_errors, emit, fail
from kops_onboard.commands.options import Output
from kops_onboard.deployment import Deployment

COLUMNS = ("cluster_name", "region", "status", "updated_at", "execution_id", "admin_kubeconfig", "canary", "drift")


def run_status(*, cluster: str | None, region: str | None, output: Output) -> None:
    deployment = Deployment(region)
    now = datetime.now(UTC)
    with aws_errors(output):
        table = deployment.registry_table()
        pages = deployment.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        items = [_plain(item) for page in pages for item in page["Items"]]
        spot_regions = deployment.spot_regions()
    rows = sorted(
        (
            {**{column: _json_numbers(item.get(column)) for column in COLUMNS}, "admin_kubeconfig": _expiry(item, now)}
            for item in items
            # Baselines, leases and creation markers of running (or stopped) executions share the table.
            if is_cluster_key(str(item.get("cluster_key", ""))) and (not cluster or item.get("cluster_name") == cluster)
        ),
        key=lambda row: (str(row["region"]), str(row["cluster_name"])),
    )
    if cluster and not rows:
        fail(output, Exit.NOT_FOUND, f"cluster {cluster} is not in the registry")
    emit(
        output,
        {"clusters": rows, "spot_regions": spot_regions},
        f"{_table(rows)}{_drift_details(rows)}\n\n"
        f"Spot regions covered: {', '.join(spot_regions)} (context spotRegions)",
    )


def _expiry(item: dict[str, Any], now: datetime) -> str | None:
    """When the kubeconfig secret's credential expires, as ValidateCluster recorded it, or that it has."""
    recorded = item.get("admin_kubeconfig")
    if not isinstance(recorded, dict):
        return None  # onboarded before expiry was recorded
    if not recorded.get("expires_at"):
        return "no expiry known"
    expires_at = datetime.fromisoformat(str(recorded["expires_at"]))
    return f"{'expired' if expires_at <= now else 'expires'} {expires_at.isoformat(timespec='minutes')}"


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def _json_numbers(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; the canary's duration is an integer of milliseconds.
    if isinstance(value, dict):
        return {key: _json_numbers(inner) for key, inner in value.items()}
    return int(value) if isinstance(value, Decimal) else value


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no clusters onboarded"
    summaries = {"canary": canary_summary, "drift": drift_summary}
    cells = [{c: summaries[c](r[c]) if c in summaries else str(r[c] or "") for c in COLUMNS} for r in rows]
    widths = {c: max(len(c), *(len(cell[c]) for cell in cells)) for c in COLUMNS}
    header = "  ".join(c.upper().ljust(widths[c]) for c in COLUMNS)
    body = ["  ".join(cell[c].ljust(widths[c]) for c in COLUMNS) for cell in cells]
    return "\n".join([header, *body])


def canary_summary(result: dict[str, Any] | None) -> str:
    """The last Spot canary result in one cell: `ok at <time>`, or `FAILED <reason> at <time>: <detail>`."""
    if not result:
        return "not run yet"
    if result.get("ok"):
        return f"ok at {result.get('checked_at')}"
    return f"FAILED {result.get('reason')} at {result.get('checked_at')}: {result.get('detail')}"


def drift_summary(result: dict[str, Any] | None) -> str:
    """The last drift check in one cell: `none at <time>`, `<n> drifted (<m> widen access) at <time>`, or why
    the check could not be made."""
    if not result:
        return "not checked yet"
    if result.get("error"):
        return f"CHECK FAILED at {result.get('checked_at')}: {result.get('error')}"
    resources = result.get("resources") or []
    if not resources:
        return f"none at {result.get('checked_at')}"
    widening = sum(1 for r in resources if r.get("widens_access"))
    return f"{len(resources)} drifted ({widening} widen access) at {result.get('checked_at')}"


def _drift_details(rows: list[dict[str, Any]]) -> str:
    """Each drifted resource of each cluster: kind, name, what differs, and why it widens access."""
    lines = []
    for row in rows:
        resources = (row.get("drift") or {}).get("resources") or []
        if not resources:
            continue
        lines.append(
            f"\nDrift of {row['cluster_name']} ({row['region']}); `kops-onboard onboard` repairs what it made:"
        )
        for resource in resources:
            flag = "  WIDENS ACCESS" if resource.get("widens_access") else ""
            lines.append(f"  {resource.get('drift')} {resource.get('kind')} {resource.get('name')}{flag}")
            lines += [f"      {change}" for change in resource.get("changes") or []]
            lines += [f"      widens: {why}" for why in resource.get("widening") or []]
    return "\n" + "\n".join(lines) if lines else ""
