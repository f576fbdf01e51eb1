"""Undo InstallAgent: the agent's objects (only those labelled ours; rollback: only those the baseline did
not have, the namespace last), and, on rollback, kube-router's tolerations as they were.

Offboarding leaves kube-router's tolerations in place: they fix a kOps 1.17 bug for every node with a
custom taint, not only for the service's nodes, and removing them would roll kube-router for nothing.
"""

from typing import Any

from kops_lambda.constants import KUBE_ROUTER_DAEMONSET, KUBE_SYSTEM
from kops_lambda.logic.cluster.kube_router import DAEMONSET_PATH, REQUIRED_TOLERATIONS
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, KubeRest
from kops_lambda.logic.rollback.cluster_state import agent_object_refs, delete_ours, tolerations_of
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import Baseline, CleanupSummary


def rollback_agent(rest: KubeRest, baseline: Baseline) -> CleanupSummary:
    report = Report()
    for ref in reversed(agent_object_refs()):
        if not baseline.cluster.existed(ref.kind, ref.namespace, ref.name):
            delete_ours(rest, ref, report)
    if baseline.cluster.kube_router_tolerations is not None:
        _restore_tolerations(rest, baseline.cluster.kube_router_tolerations, report)
    return report.summary()


def offboard_agent(rest: KubeRest) -> CleanupSummary:
    report = Report()
    for ref in reversed(agent_object_refs()):
        delete_ours(rest, ref, report)
    return report.summary()


def _restore_tolerations(rest: KubeRest, before: list[dict[str, Any]], report: Report) -> None:
    """Back to the baseline's list when the only difference is tolerations we add; else left as is."""
    label = f"DaemonSet {KUBE_SYSTEM}/{KUBE_ROUTER_DAEMONSET} tolerations"
    for _ in range(MAX_WRITE_ATTEMPTS):
        daemonset = rest.get(DAEMONSET_PATH)
        if daemonset is None:
            return
        current = tolerations_of(daemonset)
        if current == before:
            return
        extra = [t for t in current if t not in before]
        if not all(t in current for t in before) or not all(t in REQUIRED_TOLERATIONS for t in extra):
            report.kept.append(f"{label}: changed by someone else since")
            return
        patch = {
            "metadata": {"resourceVersion": daemonset["metadata"]["resourceVersion"]},
            # null removes the list when there was none (a merge patch cannot write an absent key back).
            "spec": {"template": {"spec": {"tolerations": before or None}}},
        }
        try:
            rest.merge_patch(DAEMONSET_PATH, patch)
        except Conflict:
            continue
        report.restored.append(label)
        return
    report.kept.append(f"{label}: still changing after {MAX_WRITE_ATTEMPTS} attempts")
