"""Undo IssueDrainerCredential: the drainer ServiceAccount with its RBAC (which revokes its tokens) and the
credential secret.

Rollback removes the account only when the baseline did not have it (a re-onboarding keeps the earlier
one) and puts the secret back as the baseline saw it (deleted at once when this execution created it).
Offboarding removes both, the secret with the input's recovery window; with the cluster left alone
(skip_cluster_cleanup, no kubeconfig recorded) the secret still goes.
"""

from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import drainer_secret_name
from kops_lambda.logic.cluster.drainer import DRAINER_ACCOUNT
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import delete_service_account
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary


def rollback_drainer(rest: KubeRest, secretsmanager: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    account = DRAINER_ACCOUNT
    if not baseline.cluster.existed("ServiceAccount", account.namespace, account.name):
        delete_service_account(rest, account, report)
    if baseline.aws.drainer_secret is not None:
        with translated_aws_errors("rollback of the drainer credential"):
            aws_state.revert_secret(secretsmanager, baseline.aws.drainer_secret, report)
    return report.summary()


def offboard_drainer(
    rest: KubeRest | None, secretsmanager: Any, *, cluster_name: str, recovery_days: int, kept: list[str]
) -> CleanupSummary:
    """`rest` None: the cluster is not touched (`kept` says why)."""
    report = Report(kept=list(kept))
    if rest is not None:
        delete_service_account(rest, DRAINER_ACCOUNT, report)
    with translated_aws_errors("offboarding of the drainer credential"):
        aws_state.delete_secret(
            secretsmanager, drainer_secret_name(cluster_name), recovery_days=recovery_days, report=report
        )
    return report.summary()
