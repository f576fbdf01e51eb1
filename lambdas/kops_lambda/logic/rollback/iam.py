"""IAM: the cluster's user (inline policy, attachments, access keys, the user) and the shared entities
(CASTKopsPolicyV2 with its versions, CastLambdaRoleForSpot).

Shared entities are removed or reverted only when no other cluster uses them: no other cluster in the
registry is onboarded or being onboarded, and (for the policy) nothing but our user is attached to it.
"""

from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import SHARED_POLICY_NAME, SPOT_ROLE_NAME
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.registry import other_clusters
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary


def rollback_iam(iam: Any, table: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    aws = baseline.aws
    with translated_aws_errors("rollback of IAM entities"):
        current = aws_state.user_snapshot(iam, aws.user_name)
        if current is not None and aws.user is None:
            aws_state.delete_user(iam, aws.user_name, report)
        elif current is not None and aws.user is not None:
            _revert_user(iam, aws.user_name, before=aws.user.model_dump(), now=current.model_dump(), report=report)
        users = other_clusters(table, baseline.cluster_key)
        _rollback_shared(iam, baseline, users, report)
    return report.summary()


def _revert_user(iam: Any, name: str, *, before: dict[str, Any], now: dict[str, Any], report: Report) -> None:
    for arn in now["attached_policy_arns"]:
        if arn not in before["attached_policy_arns"]:
            aws_state.detach_user_policy(iam, name, arn, report)
    for policy, document in now["inline_policies"].items():
        previous = before["inline_policies"].get(policy)
        if previous is None:
            aws_state.delete_user_policy(iam, name, policy, report)
        elif previous != document:
            iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=previous)
            report.restored.append(f"inline policy {policy} of IAM user {name}")
    for key_id in now["access_key_ids"]:
        if key_id not in before["access_key_ids"]:
            aws_state.delete_access_key(iam, name, key_id, report)


def _rollback_shared(iam: Any, baseline: Baseline, users: list[str], report: Report) -> None:
    aws = baseline.aws
    policy = aws_state.policy_snapshot(iam, aws.shared_policy_arn)
    if policy is not None:
        elsewhere = [e for e in aws_state.policy_entities(iam, aws.shared_policy_arn) if e != f"user/{aws.user_name}"]
        if users or elsewhere:
            changed = aws.shared_policy is None or policy.version_ids != aws.shared_policy.version_ids
            if changed:
                report.kept.append(f"IAM policy {SHARED_POLICY_NAME}: {_in_use(users, elsewhere)}")
        elif aws.shared_policy is None:
            aws_state.delete_policy(iam, aws.shared_policy_arn, report)
        else:
            aws_state.revert_policy_versions(iam, aws.shared_policy_arn, aws.shared_policy, report)
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


def _in_use(users: list[str], entities: list[str]) -> str:
    reasons = []
    if users:
        reasons.append(f"used by {len(users)} other cluster(s)")
    if entities:
        reasons.append(f"attached to {', '.join(entities)}")
    return "; ".join(reasons)


def offboard_user(iam: Any, *, cluster_name: str) -> CleanupSummary:
    """Access keys, inline policies, attachments and the user, if it carries our managed-by tag."""
    report = Report()
    name = user_name(cluster_name)
    with translated_aws_errors("offboarding of the IAM user"):
        current = aws_state.user_snapshot(iam, name)
        if current is None:
            return report.summary()
        if not aws_state.ours(current.tags):
            report.kept.append(f"IAM user {name}: not created by kops-onboard (no managed-by tag)")
            return report.summary()
        aws_state.delete_user(iam, name, report)
    return report.summary()


def offboard_shared(iam: Any, table: Any, *, own_key: str, partition: str, account: str) -> CleanupSummary:
    """CASTKopsPolicyV2 and CastLambdaRoleForSpot, once no other cluster uses them."""
    report = Report()
    arn = f"arn:{partition}:iam::{account}:policy/{SHARED_POLICY_NAME}"
    with translated_aws_errors("offboarding of the shared IAM entities"):
        users = other_clusters(table, own_key)
        if aws_state.policy_snapshot(iam, arn) is not None:
            entities = aws_state.policy_entities(iam, arn)
            if users or entities:
                report.kept.append(f"IAM policy {SHARED_POLICY_NAME}: {_in_use(users, entities)}")
            elif not _policy_is_ours(iam, arn):
                report.kept.append(f"IAM policy {SHARED_POLICY_NAME}: not created by kops-onboard (no managed-by tag)")
            else:
                aws_state.delete_policy(iam, arn, report)
        role = aws_state.role_snapshot(iam, SPOT_ROLE_NAME)
        if role is not None:
            if users:
                report.kept.append(f"IAM role {SPOT_ROLE_NAME}: {_in_use(users, [])}")
            elif not aws_state.ours(role.tags):
                report.kept.append(f"IAM role {SPOT_ROLE_NAME}: not created by kops-onboard (no managed-by tag)")
            else:
                aws_state.delete_role(iam, SPOT_ROLE_NAME, report)
    return report.summary()


def _policy_is_ours(iam: Any, arn: str) -> bool:
    tags = aws_state.tags_of(iam.list_policy_tags(PolicyArn=arn)["Tags"])
    return aws_state.ours(tags)
