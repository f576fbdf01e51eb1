"""The access key and the EC2 key pair, each with the secret holding it.

Rollback deletes the secrets it removes at once (they held credentials that are deleted with them, and a
rerun must be able to create them again under the same name); offboarding deletes them with the
recovery window of its input.
"""

from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import TAG_ADOPTED, access_key_secret_name, private_key_secret_name
from kops_lambda.logic.iam_names import key_pair_name, user_name
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary


def rollback_access_key(iam: Any, secretsmanager: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    aws = baseline.aws
    before = aws.user.access_key_ids if aws.user is not None else []
    with translated_aws_errors("rollback of the access key"):
        now = aws_state.access_key_ids(iam, aws.user_name) or []
        for key_id in now:
            if key_id not in before:
                aws_state.delete_access_key(iam, aws.user_name, key_id, report)
        for key_id in before:
            if key_id not in now:
                report.kept.append(f"access key {key_id}: retired by this execution, it cannot come back")
        aws_state.revert_secret(secretsmanager, aws.access_key_secret, report)
    return report.summary()


def rollback_key_pair(ec2: Any, secretsmanager: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    aws = baseline.aws
    with translated_aws_errors("rollback of the key pair"):
        pair = aws_state.key_pair(ec2, aws.key_pair_name)
        if pair is not None and pair["KeyPairId"] != aws.key_pair_id:
            if aws_state.ours(aws_state.tags_of(pair.get("Tags"))):
                aws_state.delete_key_pair(ec2, pair, report)
            else:
                report.kept.append(f"EC2 key pair {aws.key_pair_name}: not created by kops-onboard (no managed-by tag)")
        aws_state.revert_secret(secretsmanager, aws.private_key_secret, report)
    return report.summary()


def offboard_access_key(iam: Any, secretsmanager: Any, *, cluster_name: str, recovery_days: int) -> CleanupSummary:
    """Every access key of our user (the user is ours, and goes next), then their secret."""
    report = Report()
    name = user_name(cluster_name)
    with translated_aws_errors("offboarding of the access key"):
        user = aws_state.user_snapshot(iam, name)
        if user is not None and aws_state.ours(user.tags):
            # An adopted user's tag lists the keys it had before adoption: those stay the customer's.
            pre_existing = user.tags.get(TAG_ADOPTED, "").split()
            for key_id in user.access_key_ids:
                if key_id in pre_existing:
                    report.kept.append(f"access key {key_id} of IAM user {name}: it existed before adoption")
                else:
                    aws_state.delete_access_key(iam, name, key_id, report)
        elif user is not None:
            report.kept.append(f"access keys of IAM user {name}: the user was not created by kops-onboard")
        aws_state.delete_secret(
            secretsmanager, access_key_secret_name(cluster_name), recovery_days=recovery_days, report=report
        )
    return report.summary()


def offboard_key_pair(ec2: Any, secretsmanager: Any, *, cluster_name: str, recovery_days: int) -> CleanupSummary:
    report = Report()
    name = key_pair_name(cluster_name)
    with translated_aws_errors("offboarding of the key pair"):
        pair = aws_state.key_pair(ec2, name)
        if pair is not None and aws_state.ours(aws_state.tags_of(pair.get("Tags"))):
            aws_state.delete_key_pair(ec2, pair, report)
        elif pair is not None:
            report.kept.append(f"EC2 key pair {name}: not created by kops-onboard (no managed-by tag)")
        aws_state.delete_secret(
            secretsmanager, private_key_secret_name(cluster_name), recovery_days=recovery_days, report=report
        )
    return report.summary()
