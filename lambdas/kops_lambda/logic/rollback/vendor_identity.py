"""Undo and offboard the vendor's ServiceAccount identity (logic/cluster/vendor_identity.py): its token Secret,
ClusterRoleBinding and ServiceAccount in the cluster, and its kubeconfig secret in Secrets Manager.

Run by RollbackIdentityMapping / RemoveIdentityMapping whatever the cluster's identity mode: MapIdentity is
what makes them, and on a cluster that never had them both find nothing to do. Rollback removes only what
the baseline did not have (the secret: deleted at once when this execution created it, else its previous
version made current again); offboarding removes them all, the secret with the input's recovery window,
even with skip_cluster_cleanup (the secret is in the account, not the cluster).
"""

from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.constants import vendor_kubeconfig_secret_name
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import (
    delete_service_account,
    service_account_objects,
    token_secret_object,
)
from kops_lambda.logic.cluster.vendor_identity import vendor_service_account
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.cluster_state import ObjectRef, delete_ours
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary


def vendor_object_refs(cluster_name: str) -> list[ObjectRef]:
    """The ServiceAccount, its ClusterRoleBinding and its token Secret, in creation order (for the baseline)."""
    spec = vendor_service_account(cluster_name)
    return [
        ObjectRef(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in [*service_account_objects(spec), token_secret_object(spec)]
    ]


def rollback_vendor_objects(rest: KubeRest, baseline: Baseline) -> CleanupSummary:
    report = Report()
    for ref in reversed(vendor_object_refs(baseline.cluster_name)):
        if not baseline.cluster.existed(ref.kind, ref.namespace, ref.name):
            delete_ours(rest, ref, report)
    return report.summary()


def rollback_vendor_kubeconfig(secretsmanager: Any, baseline: Baseline) -> CleanupSummary:
    report = Report()
    # None: a baseline taken before the vendor kubeconfig existed; such an execution never wrote one.
    if baseline.aws.vendor_kubeconfig_secret is not None:
        with translated_aws_errors("rollback of the vendor kubeconfig"):
            aws_state.revert_secret(secretsmanager, baseline.aws.vendor_kubeconfig_secret, report)
    return report.summary()


def offboard_vendor_objects(rest: KubeRest, cluster_name: str) -> CleanupSummary:
    report = Report()
    delete_service_account(rest, vendor_service_account(cluster_name), report)
    return report.summary()


def offboard_vendor_kubeconfig(secretsmanager: Any, *, cluster_name: str, recovery_days: int) -> CleanupSummary:
    report = Report()
    with translated_aws_errors("offboarding of the vendor kubeconfig"):
        aws_state.delete_secret(
            secretsmanager, vendor_kubeconfig_secret_name(cluster_name), recovery_days=recovery_days, report=report
        )
    return report.summary()


def merged(*summaries: CleanupSummary) -> CleanupSummary:
    return CleanupSummary(
        removed=[name for s in summaries for name in s.removed],
        restored=[name for s in summaries for name in s.restored],
        kept=[name for s in summaries for name in s.kept],
    )
