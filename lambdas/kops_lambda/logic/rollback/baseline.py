"""The rollback baseline: the state, before an onboarding execution changes anything, of every entity it
may create or change, kept in the registry under `rollback-baseline#<execution id>`.

Taken once per execution (a retried RecordBaseline keeps the first snapshot, taken before anything
happened). Keyed by the execution, not the cluster, so compensation needs nothing but the execution id
(even when the input did not validate) and two executions never share one. Rollback and a successful
onboarding (DiscardBaseline) delete it; one left behind (an execution stopped or timed out, a failed
discard) expires by the registry's TTL attribute `expiration`, and offboarding deletes the cluster's.
"""

import time
from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import (
    BASELINE_KEY_PREFIX,
    BASELINE_TTL_SECONDS,
    REGISTRY_TTL_ATTRIBUTE,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    access_key_secret_name,
    drainer_secret_name,
    private_key_secret_name,
    vendor_kubeconfig_secret_name,
)
from kops_lambda.logic import policies
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.iam_names import key_pair_name, user_name
from kops_lambda.logic.registry import cluster_key, now_iso
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.cluster_state import snapshot_cluster
from kops_lambda.logic.rollback.report import plain
from kops_lambda.logic.rollback.vendor_identity import vendor_object_refs
from kops_lambda.models.rollback import AwsBaseline, Baseline, BaselineResult


def baseline_key(execution_id: str) -> str:
    return f"{BASELINE_KEY_PREFIX}{execution_id}"


def snapshot_aws(
    iam: Any, ec2: Any, secretsmanager: Any, *, partition: str, account: str, cluster_name: str
) -> AwsBaseline:
    name = user_name(cluster_name)
    shared_arn = f"arn:{partition}:iam::{account}:policy/{SHARED_POLICY_NAME}"
    pair = aws_state.key_pair(ec2, key_pair_name(cluster_name))
    return AwsBaseline(
        partition=partition,
        account=account,
        user_name=name,
        user_arn=f"arn:{partition}:iam::{account}:user/{name}",
        user=aws_state.user_snapshot(iam, name),
        shared_policy_arn=shared_arn,
        shared_policy=aws_state.policy_snapshot(iam, shared_arn),
        boundary_policy=aws_state.policy_snapshot(iam, policies.boundary_policy_arn(partition, account)),
        cluster_policies=aws_state.cluster_policy_snapshots(iam, name),
        spot_role=aws_state.role_snapshot(iam, SPOT_ROLE_NAME),
        key_pair_name=key_pair_name(cluster_name),
        key_pair_id=str(pair["KeyPairId"]) if pair else None,
        access_key_secret=aws_state.secret_snapshot(secretsmanager, access_key_secret_name(cluster_name)),
        private_key_secret=aws_state.secret_snapshot(secretsmanager, private_key_secret_name(cluster_name)),
        drainer_secret=aws_state.secret_snapshot(secretsmanager, drainer_secret_name(cluster_name)),
        vendor_kubeconfig_secret=aws_state.secret_snapshot(secretsmanager, vendor_kubeconfig_secret_name(cluster_name)),
    )


def record_baseline(
    table: Any,
    *,
    iam: Any,
    ec2: Any,
    secretsmanager: Any,
    rest: KubeRest,
    execution_id: str,
    region: str,
    cluster_name: str,
    kubeconfig_secret_arn: str,
    partition: str,
    account: str,
) -> BaselineResult:
    existing = load_baseline(table, execution_id)
    if existing is None:
        with translated_aws_errors("rollback baseline"):
            item = table.get_item(Key={"cluster_key": cluster_key(region, cluster_name)}, ConsistentRead=True)
            aws = snapshot_aws(
                iam, ec2, secretsmanager, partition=partition, account=account, cluster_name=cluster_name
            )
        existing = Baseline(
            execution_id=execution_id,
            cluster_key=cluster_key(region, cluster_name),
            cluster_name=cluster_name,
            region=region,
            kubeconfig_secret_arn=kubeconfig_secret_arn,
            taken_at=now_iso(),
            registry_item=plain(item["Item"]) if "Item" in item else None,
            aws=aws,
            cluster=snapshot_cluster(rest, extra=vendor_object_refs(cluster_name)),
        )
        with translated_aws_errors("rollback baseline"):
            table.put_item(
                Item={
                    "cluster_key": baseline_key(execution_id),
                    "for_cluster": existing.cluster_key,
                    "baseline": existing.model_dump(mode="json"),
                    REGISTRY_TTL_ATTRIBUTE: int(time.time()) + BASELINE_TTL_SECONDS,
                },
                ConditionExpression="attribute_not_exists(cluster_key)",
            )
    return BaselineResult(
        taken_at=existing.taken_at, registered_before=existing.registry_item is not None, existing=existed(existing)
    )


def existed(baseline: Baseline) -> list[str]:
    """Names of what already existed (for the execution's output and the demo)."""
    aws, cluster = baseline.aws, baseline.cluster
    names = []
    if aws.user is not None:
        names.append(f"IAM user {aws.user_name}")
    if aws.shared_policy is not None:
        names.append(f"IAM policy {SHARED_POLICY_NAME}")
    if aws.boundary_policy is not None:
        names.append(f"IAM policy {policies.BOUNDARY_POLICY_NAME}")
    if aws.spot_role is not None:
        names.append(f"IAM role {SPOT_ROLE_NAME}")
    if aws.key_pair_id is not None:
        names.append(f"EC2 key pair {aws.key_pair_name}")
    for secret in (aws.access_key_secret, aws.private_key_secret, aws.drainer_secret, aws.vendor_kubeconfig_secret):
        if secret is not None and secret.exists:
            names.append(f"secret {secret.name}")
    names += [f"ConfigMap kube-system/{c.name}" for c in cluster.configmaps if c.resource_version is not None]
    names += [f"{o.kind} {o.namespace + '/' if o.namespace else ''}{o.name}" for o in cluster.objects]
    return names


def _from_json(value: Any) -> Any:
    # DynamoDB hands numbers back as Decimal; the model wants what it stored.
    return plain(value)


def load_baseline(table: Any, execution_id: str) -> Baseline | None:
    with translated_aws_errors("rollback baseline"):
        item = table.get_item(Key={"cluster_key": baseline_key(execution_id)}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    return Baseline.model_validate(_from_json(item["baseline"]))


def discard_baseline(table: Any, execution_id: str) -> None:
    with translated_aws_errors("rollback baseline"):
        table.delete_item(Key={"cluster_key": baseline_key(execution_id)})


def discard_cluster_baselines(table: Any, key: str) -> int:
    """Every baseline of the cluster (offboarding: the successful executions' ones, not yet expired)."""
    count = 0
    options: dict[str, Any] = {
        "FilterExpression": "for_cluster = :key",
        "ExpressionAttributeValues": {":key": key},
        "ProjectionExpression": "cluster_key",
    }
    with translated_aws_errors("rollback baseline"):
        while True:
            page = table.scan(**options)
            for item in page.get("Items", []):
                table.delete_item(Key={"cluster_key": item["cluster_key"]})
                count += 1
            if "LastEvaluatedKey" not in page:
                return count
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]
