"""One workflow per cluster at a time, and one creator per one-of-a-kind entity: items in the registry table.

A cluster lease is the item `lease#<region>#<cluster>` with its owner (the execution ARN) and an expiry
longer than the state machines' timeout. Taking it is one conditional put, which succeeds when there is no
lease, when it has expired, or when the owner already holds it (a retried step). Otherwise the holder's
execution is asked for its status: one that has ended without releasing (failed, stopped, timed out) gives
its lease up to a second conditional put on that owner; a running one makes the caller fail with
ClusterBusy naming it. Only the owner releases (a conditional delete).

The scheduled access-key rotation takes the same lease for the moment it rotates one cluster's key, as an owner
that is not an execution (its function's ARN and request id), for a few minutes only: no Step Functions
status tells whether it still runs, so a workflow meeting its lease is busy until the rotation releases it
or the lease expires.

A creation marker (`creating#<what>`) is held by one invocation while it creates something of which only
one may exist (the access key): a second invocation meanwhile gets CreationInProgress, retried by the
workflow, and then finds the first one's entity and reuses it.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import (
    CREATION_MARKER_PREFIX,
    CREATION_MARKER_SECONDS,
    LEASE_KEY_PREFIX,
    LEASE_SECONDS,
    REGISTRY_TTL_ATTRIBUTE,
)
from kops_lambda.errors import ClusterBusy, CreationInProgress
from kops_lambda.logic.registry import cluster_key

_OWNER = {"#owner": "owner"}  # OWNER is a DynamoDB reserved word


def lease_key(region: str, cluster_name: str) -> str:
    return f"{LEASE_KEY_PREFIX}{cluster_key(region, cluster_name)}"


def acquire_cluster_lease(
    table: Any,
    stepfunctions: Any,
    *,
    region: str,
    cluster_name: str,
    owner: str,
    now: float | None = None,
    seconds: int = LEASE_SECONDS,
) -> None:
    """Take the cluster's lease for `owner` (an execution ARN, or the rotation's invocation) for `seconds`, or
    raise ClusterBusy naming the running holder."""
    key = lease_key(region, cluster_name)
    clock = time.time() if now is None else now
    if _claim(table, key, owner=owner, seconds=seconds, now=clock):
        return
    holder = _holder(table, key)
    if holder is None and _claim(table, key, owner=owner, seconds=seconds, now=clock):
        return  # released between the two reads
    previous = str((holder or {}).get("owner", "?"))
    ended = holder is not None and is_execution_arn(previous) and not execution_is_running(stepfunctions, previous)
    if ended and _claim(table, key, owner=owner, seconds=seconds, now=clock, replacing=previous):
        return
    what = "execution" if is_execution_arn(previous) else "the access key rotation"
    raise ClusterBusy(
        f"cluster {cluster_name} in {region} is busy: {what} {previous} is working on it "
        f"(since {(holder or {}).get('taken_at', '?')}); start again once it has finished"
    )


def is_execution_arn(owner: str) -> bool:
    """A Step Functions execution's ARN (`arn:<partition>:states:<region>:<account>:execution:...`)."""
    parts = owner.split(":")
    return len(parts) > 6 and parts[0] == "arn" and parts[2] == "states" and parts[5] == "execution"


def release_cluster_lease(table: Any, *, region: str, cluster_name: str, owner: str) -> bool:
    """Give the lease back if `owner` holds it; False if it did not (never taken, or taken over)."""
    return _release(table, lease_key(region, cluster_name), owner)


def execution_is_running(stepfunctions: Any, execution_arn: str) -> bool:
    try:
        with translated_aws_errors("execution status"):
            status = stepfunctions.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise
    return bool(status == "RUNNING")


@contextmanager
def creation_marker(table: Any, what: str) -> Iterator[None]:
    """Hold the marker of `what` for the block, or raise CreationInProgress if another invocation holds it."""
    key, owner = f"{CREATION_MARKER_PREFIX}{what}", str(uuid.uuid4())
    if not _claim(table, key, owner=owner, seconds=CREATION_MARKER_SECONDS, now=time.time()):
        raise CreationInProgress(f"{what}: another invocation is creating it right now")
    try:
        yield
    finally:
        _release(table, key, owner)


def _claim(table: Any, key: str, *, owner: str, seconds: int, now: float, replacing: str | None = None) -> bool:
    expires_at = int(now) + seconds
    item = {
        "cluster_key": key,
        "owner": owner,
        "taken_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "expires_at": expires_at,
        REGISTRY_TTL_ATTRIBUTE: expires_at,  # DynamoDB removes what a crashed holder left, eventually
    }
    if replacing is None:
        condition = "attribute_not_exists(cluster_key) OR expires_at < :now OR #owner = :owner"
        values: dict[str, Any] = {":now": int(now), ":owner": owner}
    else:
        condition, values = "#owner = :previous", {":previous": replacing}
    try:
        with translated_aws_errors("lease"):
            table.put_item(
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=_OWNER,
                ExpressionAttributeValues=values,
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _holder(table: Any, key: str) -> dict[str, Any] | None:
    with translated_aws_errors("lease"):
        found: dict[str, Any] | None = table.get_item(Key={"cluster_key": key}, ConsistentRead=True).get("Item")
    return found


def _release(table: Any, key: str, owner: str) -> bool:
    try:
        with translated_aws_errors("lease"):
            table.delete_item(
                Key={"cluster_key": key},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames=_OWNER,
                ExpressionAttributeValues={":owner": owner},
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
