"""IAM, EC2 key pairs and Secrets Manager: read an entity's state for the baseline, and remove or restore
it idempotently (absent already = done). Callers wrap these in `translated_aws_errors`."""

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code
from kops_lambda.constants import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE
from kops_lambda.logic import policies
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import PolicySnapshot, RoleSnapshot, SecretSnapshot, UserSnapshot

_IAM_MISSING = "NoSuchEntity"
_KEY_PAIR_MISSING = "InvalidKeyPair.NotFound"
_SECRET_MISSING = "ResourceNotFoundException"


def _missing(exc: ClientError, code: str) -> bool:
    return error_code(exc) == code


def _remove(report: Report, what: str, call: Callable[[], object], *, missing: str = _IAM_MISSING) -> None:
    """Run one removal; an entity already gone (error code `missing`) counts as done and is not reported."""
    try:
        call()
    except ClientError as exc:
        if not _missing(exc, missing):
            raise
        return
    report.removed.append(what)


def tags_of(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def ours(tags: dict[str, str]) -> bool:
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


def _document(value: str | dict[str, Any]) -> str:
    parsed = value if isinstance(value, dict) else json.loads(urllib.parse.unquote(value))
    return policies.canonical(parsed)


# ---- IAM user ----


def user_snapshot(iam: Any, name: str) -> UserSnapshot | None:
    try:
        iam.get_user(UserName=name)
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return None
        raise
    attached = [
        p["PolicyArn"]
        for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=name)
        for p in page["AttachedPolicies"]
    ]
    inline = {
        policy: _document(iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"])
        for page in iam.get_paginator("list_user_policies").paginate(UserName=name)
        for policy in page["PolicyNames"]
    }
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]]
    tags = tags_of(iam.list_user_tags(UserName=name)["Tags"])
    return UserSnapshot(attached_policy_arns=attached, inline_policies=inline, access_key_ids=keys, tags=tags)


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def cluster_policy_snapshots(iam: Any, user_name: str) -> dict[str, PolicySnapshot]:
    snapshots = {arn: policy_snapshot(iam, arn) for arn in cluster_policy_arns(iam, user_name)}
    return {arn: snapshot for arn, snapshot in snapshots.items() if snapshot is not None}


def cluster_policy_arns(iam: Any, user_name: str) -> list[str]:
    """The cluster's managed policies by name, attached or not (a failed run may have created one it never
    attached)."""
    return [
        p["Arn"]
        for page in iam.get_paginator("list_policies").paginate(Scope="Local")
        for p in page["Policies"]
        if policies.is_cluster_policy(p["PolicyName"], user_name)
    ]


def access_key_ids(iam: Any, user_name: str) -> list[str] | None:
    """The user's access key ids; None when the user does not exist."""
    try:
        return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]]
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return None
        raise


def delete_access_key(iam: Any, user_name: str, key_id: str, report: Report) -> None:
    _remove(
        report,
        f"access key {key_id} of IAM user {user_name}",
        lambda: iam.delete_access_key(UserName=user_name, AccessKeyId=key_id),
    )


def detach_user_policy(iam: Any, user_name: str, arn: str, report: Report) -> None:
    _remove(
        report,
        f"attachment of {arn.rsplit('/', 1)[-1]} to IAM user {user_name}",
        lambda: iam.detach_user_policy(UserName=user_name, PolicyArn=arn),
    )


def delete_user_policy(iam: Any, user_name: str, policy: str, report: Report) -> None:
    _remove(
        report,
        f"inline policy {policy} of IAM user {user_name}",
        lambda: iam.delete_user_policy(UserName=user_name, PolicyName=policy),
    )


def delete_user(iam: Any, name: str, report: Report) -> None:
    """The user and what hangs on it (access keys, inline policies, attachments): IAM refuses to delete
    a user that still has any of them."""
    current = user_snapshot(iam, name)
    if current is None:
        return
    for key_id in current.access_key_ids:
        delete_access_key(iam, name, key_id, report)
    for policy in current.inline_policies:
        delete_user_policy(iam, name, policy, report)
    for arn in current.attached_policy_arns:
        detach_user_policy(iam, name, arn, report)
    for arn in cluster_policy_arns(iam, name):
        delete_cluster_policy(iam, arn, report)
    _remove(report, f"IAM user {name}", lambda: iam.delete_user(UserName=name))


def delete_cluster_policy(iam: Any, arn: str, report: Report) -> None:
    """One of the cluster's managed policies, once detached: only if it carries our tag and nothing uses it."""
    try:
        tags = tags_of(iam.list_policy_tags(PolicyArn=arn)["Tags"])
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return
        raise
    if not ours(tags):
        report.kept.append(f"IAM policy {_name(arn)}: not created by kops-onboard (no managed-by tag)")
    elif entities := policy_entities(iam, arn):
        report.kept.append(f"IAM policy {_name(arn)}: attached to {', '.join(entities)}")
    else:
        delete_policy(iam, arn, report)


# ---- CASTKopsPolicyV2 ----


def policy_snapshot(iam: Any, arn: str) -> PolicySnapshot | None:
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return None
        raise
    versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]]
    return PolicySnapshot(default_version=policy["DefaultVersionId"], version_ids=sorted(versions))


def policy_entities(iam: Any, arn: str) -> list[str]:
    """Every user, role and group the policy is attached to, as `user/<name>` etc."""
    entities: list[str] = []
    try:
        for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
            entities += [f"user/{u['UserName']}" for u in page.get("PolicyUsers", [])]
            entities += [f"role/{r['RoleName']}" for r in page.get("PolicyRoles", [])]
            entities += [f"group/{g['GroupName']}" for g in page.get("PolicyGroups", [])]
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return []
        raise
    return entities


def delete_policy(iam: Any, arn: str, report: Report) -> None:
    """A customer managed policy: its non-default versions first (IAM requires it), then the policy."""
    current = policy_snapshot(iam, arn)
    if current is None:
        return

    def versions_then_policy() -> None:
        for version in current.version_ids:
            if version != current.default_version:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version)
        iam.delete_policy(PolicyArn=arn)

    _remove(report, f"IAM policy {arn.rsplit('/', 1)[-1]}", versions_then_policy)


def revert_policy_versions(iam: Any, arn: str, baseline: PolicySnapshot, report: Report) -> None:
    """Make the baseline's default version the default again and delete the versions made since."""
    current = policy_snapshot(iam, arn)
    if current is None:
        return
    added = [v for v in current.version_ids if v not in baseline.version_ids]
    if not added:
        return
    if baseline.default_version not in current.version_ids:
        name = arn.rsplit("/", 1)[-1]
        report.kept.append(f"IAM policy {name} versions {', '.join(added)}: the previous default is gone")
        return
    if current.default_version != baseline.default_version:
        iam.set_default_policy_version(PolicyArn=arn, VersionId=baseline.default_version)
    for version in added:
        try:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version)
        except ClientError as exc:
            if not _missing(exc, _IAM_MISSING):
                raise
    report.restored.append(
        f"IAM policy {arn.rsplit('/', 1)[-1]}: default version {baseline.default_version} (removed {', '.join(added)})"
    )


# ---- CastLambdaRoleForSpot ----


def role_snapshot(iam: Any, name: str) -> RoleSnapshot | None:
    try:
        iam.get_role(RoleName=name)
    except ClientError as exc:
        if _missing(exc, _IAM_MISSING):
            return None
        raise
    attached = [
        p["PolicyArn"]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        for p in page["AttachedPolicies"]
    ]
    tags = tags_of(iam.list_role_tags(RoleName=name)["Tags"])
    return RoleSnapshot(attached_policy_arns=attached, tags=tags)


def detach_role_policy(iam: Any, role: str, arn: str, report: Report) -> None:
    _remove(
        report,
        f"attachment of {arn.rsplit('/', 1)[-1]} to IAM role {role}",
        lambda: iam.detach_role_policy(RoleName=role, PolicyArn=arn),
    )


def delete_role(iam: Any, name: str, report: Report) -> None:
    current = role_snapshot(iam, name)
    if current is None:
        return
    for arn in current.attached_policy_arns:
        detach_role_policy(iam, name, arn, report)
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        _remove(report, f"inline policy {policy} of IAM role {name}", _deleting_role_policy(iam, name, policy))
    _remove(report, f"IAM role {name}", lambda: iam.delete_role(RoleName=name))


def _deleting_role_policy(iam: Any, role: str, policy: str) -> Any:
    return lambda: iam.delete_role_policy(RoleName=role, PolicyName=policy)


# ---- EC2 key pair ----


def key_pair(ec2: Any, name: str) -> dict[str, Any] | None:
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except ClientError as exc:
        if _missing(exc, _KEY_PAIR_MISSING):
            return None
        raise
    return dict(pairs[0]) if pairs else None


def delete_key_pair(ec2: Any, pair: dict[str, Any], report: Report) -> None:
    """By name, the pair just described (moto ignores KeyPairId in DeleteKeyPair: by id it deletes nothing)."""
    _remove(
        report,
        f"EC2 key pair {pair['KeyName']} ({pair['KeyPairId']})",
        lambda: ec2.delete_key_pair(KeyName=pair["KeyName"]),
        missing=_KEY_PAIR_MISSING,
    )


# ---- Secrets Manager ----


def secret_snapshot(secretsmanager: Any, name: str) -> SecretSnapshot:
    try:
        described = secretsmanager.describe_secret(SecretId=name)
    except ClientError as exc:
        if _missing(exc, _SECRET_MISSING):
            return SecretSnapshot(name=name, exists=False)
        raise
    stages: dict[str, list[str]] = described.get("VersionIdsToStages") or {}
    current = next((version for version, labels in stages.items() if "AWSCURRENT" in labels), None)
    return SecretSnapshot(
        name=name,
        exists=True,
        scheduled_for_deletion=described.get("DeletedDate") is not None,
        current_version=current,
    )


def delete_secret(secretsmanager: Any, name: str, *, recovery_days: int, report: Report) -> None:
    """Delete at once (0) or schedule the deletion; a secret already scheduled stays as scheduled."""
    current = secret_snapshot(secretsmanager, name)
    if not current.exists:
        return
    if current.scheduled_for_deletion and recovery_days:
        report.kept.append(f"secret {name}: already scheduled for deletion")
        return
    options: dict[str, Any] = (
        {"ForceDeleteWithoutRecovery": True} if recovery_days == 0 else {"RecoveryWindowInDays": recovery_days}
    )
    when = "deleted" if recovery_days == 0 else f"scheduled for deletion in {recovery_days} days"
    _remove(
        report,
        f"secret {name} ({when})",
        lambda: secretsmanager.delete_secret(SecretId=name, **options),
        missing=_SECRET_MISSING,
    )


def revert_secret(secretsmanager: Any, baseline: SecretSnapshot, report: Report) -> None:
    """Back to the baseline: deleted at once when this execution created it; otherwise the baseline's
    version made current again (the value it held before this execution wrote a new one)."""
    if not baseline.exists:
        delete_secret(secretsmanager, baseline.name, recovery_days=0, report=report)
        return
    current = secret_snapshot(secretsmanager, baseline.name)
    if (
        not current.exists
        or current.scheduled_for_deletion
        or baseline.current_version is None
        or current.current_version == baseline.current_version
    ):
        return
    secretsmanager.update_secret_version_stage(
        SecretId=baseline.name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=baseline.current_version,
        RemoveFromVersionId=current.current_version,
    )
    report.restored.append(f"secret {baseline.name}: version {baseline.current_version} is current again")
