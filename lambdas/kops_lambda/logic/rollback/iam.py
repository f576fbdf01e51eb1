"""IAM: the cluster's user (inline policies, attachments, its managed policies, access keys, the user) and the
shared entities (CASTKopsPolicyV2 and CASTKopsNodeBoundary with their versions, CastLambdaRoleForSpot).

Shared entities are removed or reverted only when no other cluster uses them: no other cluster in the
registry is onboarded or being onboarded, and (for the policy) nothing but our user is attached to it.
"""

from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import (
    LEGACY_INLINE_POLICY_NAME,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    TAG_ADOPTED,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
)
from kops_lambda.logic import policies
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.registry.rollback import other_clusters
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary, PolicySnapshot, UserSnapshot


def rollback_iam(iam: Any, table: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    aws = baseline.aws
    with translated_aws_errors("rollback of IAM entities"):
        current = aws_state.user_snapshot(iam, aws.user_name)
        if current is not None and aws.user is None:
            aws_state.delete_user(iam, aws.user_name, report)
        elif current is not None and aws.user is not None:
            _revert_user(
                iam, aws.user_name, before=aws.user, now=current, cluster_policies=aws.cluster_policies, report=report
            )
        users = other_clusters(table, baseline.cluster_key)
        _rollback_shared(iam, baseline, users, report)
    return report.summary()


def _revert_user(
    iam: Any,
    name: str,
    *,
    before: UserSnapshot,
    now: UserSnapshot,
    cluster_policies: dict[str, PolicySnapshot],
    report: Report,
) -> None:
    for arn in now.attached_policy_arns:
        if arn not in before.attached_policy_arns:
            aws_state.detach_user_policy(iam, name, arn, report)
    for arn in aws_state.cluster_policy_arns(iam, name):
        versions = cluster_policies.get(arn)
        if versions is None:
            aws_state.delete_cluster_policy(iam, arn, report)
        else:
            aws_state.revert_policy_versions(iam, arn, versions, report)
    for policy in sorted({*before.inline_policies, *now.inline_policies}):
        previous, document = before.inline_policies.get(policy), now.inline_policies.get(policy)
        if previous is None:
            aws_state.delete_user_policy(iam, name, policy, report)
        elif previous != document:
            # Changed, or deleted by onboarding's migration of the seed's inline policy.
            iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=previous)
            report.restored.append(f"inline policy {policy} of IAM user {name}")
    for key_id in now.access_key_ids:
        if key_id not in before.access_key_ids:
            aws_state.delete_access_key(iam, name, key_id, report)


def _rollback_shared(iam: Any, baseline: Baseline, users: list[str], report: Report) -> None:
    aws = baseline.aws
    boundary_arn = policies.boundary_policy_arn(aws.partition, aws.account)
    for arn, snapshot in ((aws.shared_policy_arn, aws.shared_policy), (boundary_arn, aws.boundary_policy)):
        _rollback_policy(iam, arn, snapshot, own_user=aws.user_name, users=users, report=report)
    role = aws_state.role_snapshot(iam, SPOT_ROLE_NAME)
    if role is None:
        return
    before = aws.spot_role.attached_policy_arns if aws.spot_role else []
    added = [arn for arn in role.attached_policy_arns if aws.spot_role and arn not in before]
    if users and (aws.spot_role is None or added):
        report.kept.append(f"IAM role {SPOT_ROLE_NAME}: {_in_use(users, [])}")
    elif aws.spot_role is None:
        aws_state.delete_role(iam, SPOT_ROLE_NAME, report)
    else:
        for arn in added:
            aws_state.detach_role_policy(iam, SPOT_ROLE_NAME, arn, report)


def _rollback_policy(
    iam: Any, arn: str, before: PolicySnapshot | None, *, own_user: str, users: list[str], report: Report
) -> None:
    policy = aws_state.policy_snapshot(iam, arn)
    if policy is None:
        return
    elsewhere = [e for e in aws_state.policy_entities(iam, arn) if e != f"user/{own_user}"]
    if users or elsewhere:
        if before is None or policy.version_ids != before.version_ids:
            report.kept.append(f"IAM policy {arn.rsplit('/', 1)[-1]}: {_in_use(users, elsewhere)}")
    elif before is None:
        aws_state.delete_policy(iam, arn, report)
    else:
        aws_state.revert_policy_versions(iam, arn, before, report)


def _in_use(users: list[str], entities: list[str]) -> str:
    reasons = []
    if users:
        reasons.append(f"used by {len(users)} other cluster(s)")
    if entities:
        reasons.append(f"attached to {', '.join(entities)}")
    return "; ".join(reasons)


def offboard_user(iam: Any, *, cluster_name: str) -> CleanupSummary:
    """Access keys, inline policies, attachments, the cluster's managed policies and the user, if it carries our
    managed-by tag."""
    report = Report()
    name = user_name(cluster_name)
    with translated_aws_errors("offboarding of the IAM user"):
        current = aws_state.user_snapshot(iam, name)
        if current is None:
            return report.summary()
        if not aws_state.ours(current.tags):
            report.kept.append(f"IAM user {name}: not created by kops-onboard (no managed-by tag)")
            return report.summary()
        if TAG_ADOPTED in current.tags:
            iam.untag_user(UserName=name, TagKeys=[TAG_MANAGED_BY, TAG_CLUSTER, TAG_ADOPTED])
            report.kept.append(
                f"IAM user {name}: adopted at onboarding, so left in place with the access keys it had before "
                f"({current.tags[TAG_ADOPTED] or 'none'}) and the attachments onboarding gave it "
                f"({', '.join(_names(current.attached_policy_arns))}); "
                f"its previous inline policy {LEGACY_INLINE_POLICY_NAME}, removed at onboarding, is not restored"
            )
            return report.summary()
        aws_state.delete_user(iam, name, report)
    return report.summary()


def _names(arns: list[str]) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in arns]


def offboard_shared(iam: Any, table: Any, *, own_key: str, partition: str, account: str) -> CleanupSummary:
    """CASTKopsPolicyV2, CASTKopsNodeBoundary and CastLambdaRoleForSpot, once no other cluster uses them."""
    report = Report()
    shared = f"arn:{partition}:iam::{account}:policy/{SHARED_POLICY_NAME}"
    with translated_aws_errors("offboarding of the shared IAM entities"):
        users = other_clusters(table, own_key)
        for arn in (shared, policies.boundary_policy_arn(partition, account)):
            if aws_state.policy_snapshot(iam, arn) is None:
                continue
            name = arn.rsplit("/", 1)[-1]
            tags = aws_state.tags_of(iam.list_policy_tags(PolicyArn=arn)["Tags"])
            # Node roles the service created keep the boundary in use: it stays with them.
            entities = aws_state.policy_entities(iam, arn)
            if TAG_ADOPTED in tags and not users:
                _restore_adopted_policy(iam, arn, tags[TAG_ADOPTED], report)
            elif users or entities:
                report.kept.append(f"IAM policy {name}: {_in_use(users, entities)}")
            elif not _policy_is_ours(iam, arn):
                report.kept.append(f"IAM policy {name}: not created by kops-onboard (no managed-by tag)")
            else:
                aws_state.delete_policy(iam, arn, report)
        role = aws_state.role_snapshot(iam, SPOT_ROLE_NAME)
        if role is not None:
            if users:
                report.kept.append(f"IAM role {SPOT_ROLE_NAME}: {_in_use(users, [])}")
            elif not aws_state.ours(role.tags):
                report.kept.append(f"IAM role {SPOT_ROLE_NAME}: not created by kops-onboard (no managed-by tag)")
            elif TAG_ADOPTED in role.tags:
                _restore_adopted_spot_role(iam, partition, role.tags[TAG_ADOPTED], report)
            else:
                aws_state.delete_role(iam, SPOT_ROLE_NAME, report)
    return report.summary()


def _restore_adopted_policy(iam: Any, arn: str, version: str, report: Report) -> None:
    """The version it had before adoption becomes the default again; the versions made since go."""
    current = aws_state.policy_snapshot(iam, arn)
    if current is None:
        return
    newer = [v for v in current.version_ids if _version_number(v) > _version_number(version)]
    aws_state.revert_policy_versions(
        iam,
        arn,
        PolicySnapshot(default_version=version, version_ids=sorted(set(current.version_ids) - set(newer))),
        report,
    )
    iam.untag_policy(PolicyArn=arn, TagKeys=[TAG_MANAGED_BY, TAG_ADOPTED])


def _version_number(version: str) -> int:
    return int(version.lstrip("v") or 0)


def _restore_adopted_spot_role(iam: Any, partition: str, detached: str, report: Report) -> None:
    """The seed's policies adoption detached are attached again; our scoped inline policy goes."""
    for name in detached.split():
        iam.attach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn=policies.managed_policy_arn(partition, name))
        report.restored.append(f"IAM role {SPOT_ROLE_NAME}: policy {name} attached again")
    if policies.SPOT_ROLE_POLICY_NAME in iam.list_role_policies(RoleName=SPOT_ROLE_NAME)["PolicyNames"]:
        iam.delete_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName=policies.SPOT_ROLE_POLICY_NAME)
        report.removed.append(f"inline policy {policies.SPOT_ROLE_POLICY_NAME} of IAM role {SPOT_ROLE_NAME}")
    iam.untag_role(RoleName=SPOT_ROLE_NAME, TagKeys=[TAG_MANAGED_BY, TAG_ADOPTED])


def _policy_is_ours(iam: Any, arn: str) -> bool:
    tags = aws_state.tags_of(iam.list_policy_tags(PolicyArn=arn)["Tags"])
    return aws_state.ours(tags)
