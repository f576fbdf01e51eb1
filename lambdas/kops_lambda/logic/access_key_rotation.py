"""Scheduled rotation of the onboarded clusters' access keys (context accessKeyRotationDays).

For every cluster the registry says is onboarded, under the cluster's lease (a workflow of the same cluster
is never in the middle of it; a cluster whose lease is held is skipped, and the next run tries again), the
key the cluster's secret names is read from IAM; when it is older than the limit (or inactive) it is
replaced by `ensure_access_key` (logic/access_key), the one place keys are made: the new key is created,
stored as the secret's new version, and only then is the old one deleted. The rotation never makes room:
a user that already has IAM's 2 keys is refused (AccessKeyLimit) before anything changes, and a new key
whose secret could not be stored is deleted again, so a failure always leaves the old key working and the
secret naming it.

Nothing read from the registry is trusted: a cluster name or region that is not one is a failed cluster,
not a request. One cluster's failure never stops the others. Results hold key ids, never a secret.
"""

import json
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kops_lambda.adapters.aws_errors import safe_reason, translated_aws_errors
from kops_lambda.adapters.secrets import read_secret_json
from kops_lambda.constants import PRODUCT, ROTATION_LEASE_SECONDS, STATUS_ONBOARDED, access_key_secret_name
from kops_lambda.errors import ClusterBusy, InvalidSettings
from kops_lambda.logic import registry
from kops_lambda.logic.access_key import ensure_access_key
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.lease import acquire_cluster_lease, release_cluster_lease
from kops_lambda.logic.spot.notify import KMS_KEY_ARN, TOPIC_ARN, arn_problem
from kops_lambda.models.onboarding import CLUSTER_NAME_PATTERN, REGION_PATTERN
from kops_lambda.models.registry import ClusterRecord
from kops_lambda.settings import RotationSettings


class RotationOutcome(StrEnum):
    ROTATED = "rotated"  # a new key is stored and the old one deleted
    FRESH = "fresh"  # the stored key is younger than the limit: nothing done
    BUSY = "busy"  # a workflow of the cluster holds its lease: skipped, retried next run
    NOT_ONBOARDED = "not-onboarded"  # offboarded (or being onboarded again) since the registry was read
    FAILED = "failed"  # nothing rotated; the reason says why (the old key still works)


@dataclass(frozen=True)
class RotationDependencies:
    """Clients come from the caller. `owner`: who holds the leases taken (never an execution ARN)."""

    iam: Any
    secretsmanager: Any
    registry_table: Any
    stepfunctions: Any
    kms_key_id: str | None
    owner: str
    sns: Any | None = None
    topic_arn: str = ""


@dataclass(frozen=True)
class RotationResult:
    cluster_name: str
    region: str
    outcome: RotationOutcome
    reason: str = ""
    access_key_id: str | None = None  # the key the secret names afterwards
    rotated_out_key_id: str | None = None
    secret_arn: str | None = None
    key_age_days: float | None = None
    rotated_at: str | None = None
    notified: bool | None = None  # None: no topic configured, or nothing rotated

    def record(self) -> dict[str, Any]:
        values = {
            "cluster": self.cluster_name,
            "region": self.region,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "access_key_id": self.access_key_id,
            "rotated_out_key_id": self.rotated_out_key_id,
            "secret_arn": self.secret_arn,
            "key_age_days": self.key_age_days,
            "rotated_at": self.rotated_at,
            "notified": self.notified,
        }
        return {key: value for key, value in values.items() if value not in (None, "")}


def check_rotation_settings(settings: RotationSettings, keys: Mapping[str, str]) -> None:
    """The synth's check of the topic settings; InvalidSettings names the context key (`keys`: field -> key)."""
    problems = {
        "topic_arn": arn_problem(settings.topic_arn, TOPIC_ARN, "an SNS topic ARN"),
        "topic_key_arn": arn_problem(settings.topic_key_arn, KMS_KEY_ARN, "a KMS key ARN"),
    }
    if settings.topic_key_arn and not settings.topic_arn:
        problems["topic_key_arn"] = "given without a topic"
    for field, problem in problems.items():
        if problem:
            raise InvalidSettings(f"{keys.get(field, field)}: {problem}")


def rotate_old_access_keys(deps: RotationDependencies, *, max_age: timedelta, now: datetime) -> list[RotationResult]:
    """Every onboarded cluster's key older than `max_age` at `now` rotated; one result per cluster. `now` is the
    moment keys' ages are measured at and rotations are dated with (the handler's: the current time)."""
    return [
        _rotate_cluster(deps, item, max_age=max_age, now=now)
        for item in registry.onboarded_clusters(deps.registry_table)
    ]


def _rotate_cluster(
    deps: RotationDependencies, item: ClusterRecord, *, max_age: timedelta, now: datetime
) -> RotationResult:
    name, region = item.cluster_name, item.region
    if not (re.fullmatch(CLUSTER_NAME_PATTERN, name) and len(name) <= 253 and re.fullmatch(REGION_PATTERN, region)):
        return RotationResult(name[:253], region[:32], RotationOutcome.FAILED, reason="not a cluster name and region")
    try:
        acquire_cluster_lease(
            deps.registry_table,
            deps.stepfunctions,
            region=region,
            cluster_name=name,
            owner=deps.owner,
            # The wall clock, not `now`: the workflows compare the lease's expiry with theirs.
            seconds=ROTATION_LEASE_SECONDS,
        )
    except ClusterBusy as exc:
        return RotationResult(name, region, RotationOutcome.BUSY, reason=str(exc))
    except Exception as exc:  # one cluster's failure never stops the others
        return RotationResult(name, region, RotationOutcome.FAILED, reason=f"lease: {safe_reason(exc)}")
    try:
        result = _rotate_leased(deps, name, region, max_age=max_age, now=now)
    except Exception as exc:
        result = RotationResult(name, region, RotationOutcome.FAILED, reason=safe_reason(exc))
    finally:
        # A lease that cannot be given back expires after ROTATION_LEASE_SECONDS.
        with suppress(Exception):
            release_cluster_lease(deps.registry_table, region=region, cluster_name=name, owner=deps.owner)
    if result.outcome is RotationOutcome.ROTATED and deps.sns is not None and deps.topic_arn:
        result = _with_notification(deps.sns, deps.topic_arn, result)
    return result


def _rotate_leased(
    deps: RotationDependencies, name: str, region: str, *, max_age: timedelta, now: datetime
) -> RotationResult:
    # The registry was scanned before the lease: an offboarding may have finished meanwhile.
    if registry.cluster_status(deps.registry_table, region=region, cluster_name=name) != STATUS_ONBOARDED:
        return RotationResult(name, region, RotationOutcome.NOT_ONBOARDED)
    user = user_name(name)
    with translated_aws_errors("access key"):
        stored_id = (read_secret_json(deps.secretsmanager, access_key_secret_name(name)) or {}).get("AccessKeyId")
        keys = {k["AccessKeyId"]: k for k in deps.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    if not stored_id:
        return RotationResult(name, region, RotationOutcome.FAILED, reason="no access key is stored for the cluster")
    if stored_id not in keys:
        return RotationResult(
            name,
            region,
            RotationOutcome.FAILED,
            reason=f"the stored access key {stored_id} is not one of IAM user {user}'s keys",
        )
    age = now - keys[stored_id]["CreateDate"]
    age_days = round(age.total_seconds() / 86400, 2)
    if age < max_age and keys[stored_id]["Status"] == "Active":
        return RotationResult(name, region, RotationOutcome.FRESH, access_key_id=stored_id, key_age_days=age_days)
    rotated = ensure_access_key(
        deps.iam,
        deps.secretsmanager,
        deps.registry_table,
        user_name=user,
        cluster_name=name,
        kms_key_id=deps.kms_key_id,
        rotate=True,
        make_room=False,
    )
    return RotationResult(
        name,
        region,
        RotationOutcome.ROTATED,
        access_key_id=rotated.access_key_id,
        rotated_out_key_id=rotated.rotated_out_key_id,
        secret_arn=rotated.secret_arn,
        key_age_days=age_days,
        rotated_at=now.isoformat(timespec="seconds"),
    )


def notification_request(topic_arn: str, result: RotationResult) -> dict[str, Any]:
    """Publish's arguments: what the vendor side needs to pick up the new version (never the secret)."""
    message = {
        "source": PRODUCT,
        "event": "access-key-rotated",
        "cluster": result.cluster_name,
        "region": result.region,
        "secret_arn": result.secret_arn,
        "access_key_id": result.access_key_id,
        "rotated_out_key_id": result.rotated_out_key_id,
        "rotated_at": result.rotated_at,
    }
    request: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Subject": f"{PRODUCT}: access key rotated ({result.cluster_name})"[:100],
        "Message": json.dumps(message, sort_keys=True),
        "MessageAttributes": {"cluster": {"DataType": "String", "StringValue": result.cluster_name}},
    }
    if topic_arn.endswith(".fifo"):
        request |= {"MessageGroupId": result.cluster_name, "MessageDeduplicationId": str(result.access_key_id)}
    return request


def _with_notification(sns: Any, topic_arn: str, result: RotationResult) -> RotationResult:
    """A failed notification is reported, never a failed rotation: the key is rotated either way."""
    try:
        sns.publish(**notification_request(topic_arn, result))
    except Exception as exc:
        return replace(result, notified=False, reason=f"notification: {safe_reason(exc)}")
    return replace(result, notified=True)
