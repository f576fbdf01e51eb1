"""The vendor's known issue on kOps 1.17 with kube-router: nodes with custom taints never get CNI.

kOps 1.16/1.17 ship kube-router's manifest that tolerates only CriticalAddonsOnly, the master taint
and not-ready, so a Spot node tainted by the optimization service never runs kube-router and never
becomes Ready. The vendor's resolution is to add three tolerations to `kube-system/kube-router`:
NoSchedule/Exists, NoExecute/Exists and CriticalAddonsOnly/Exists. We add the missing ones, keep
every existing one, and write with the resourceVersion we read (409 → read again, at most 5 times).
The change to the pod template rolls the DaemonSet, which is what makes it effective.

Run by the InstallAgent step: it prepares the cluster for the nodes the agent's service will add.
"""

from typing import Any

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.constants import KUBE_ROUTER_DAEMONSET, KUBE_SYSTEM
from kops_lambda.errors import RetryableError
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, KubeRest
from kops_lambda.models.cluster import KubeRouterResult

REQUIRED_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"effect": "NoSchedule", "operator": "Exists"},
    {"effect": "NoExecute", "operator": "Exists"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
)
# kOps' networking key for kube-router is `kuberouter` (spec.networking.kuberouter).
KUBE_ROUTER_NETWORKING = frozenset({"kuberouter", "kube-router"})
DAEMONSET_PATH = f"/apis/apps/v1/namespaces/{KUBE_SYSTEM}/daemonsets/{KUBE_ROUTER_DAEMONSET}"


def tolerated(existing: list[dict[str, Any]], required: dict[str, str]) -> bool:
    """An existing toleration at least as wide: operator Exists, same or no key, same or no effect."""
    for toleration in existing:
        if toleration.get("operator") != "Exists":
            continue
        if toleration.get("key") not in (None, "", required.get("key", "")):
            continue
        if toleration.get("effect") not in (None, "", required.get("effect", "")):
            continue
        return True
    return False


def kube_router_networking(networking: str | None) -> bool:
    """Whether the cluster may run kube-router (unknown networking: look for its DaemonSet)."""
    return networking is None or networking in KUBE_ROUTER_NETWORKING


def tolerations(daemonset: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(the DaemonSet's tolerations, the required ones they miss)."""
    pod_spec = daemonset.get("spec", {}).get("template", {}).get("spec", {})
    existing = list(pod_spec.get("tolerations") or [])
    return existing, [dict(t) for t in REQUIRED_TOLERATIONS if not tolerated(existing, t)]


def ensure_kube_router_tolerations(
    api: KubeClient, *, networking: str | None
) -> tuple[KubeRouterResult, list[dict[str, Any]] | None]:
    """(result, the tolerations before our patch or None when we did not patch)."""
    if not kube_router_networking(networking):
        return KubeRouterResult(status="not-applicable"), None
    rest = KubeRest(api)
    for _ in range(MAX_WRITE_ATTEMPTS):
        daemonset = rest.get(DAEMONSET_PATH)
        if daemonset is None:
            return KubeRouterResult(status="not-applicable"), None
        existing, missing = tolerations(daemonset)
        if not missing:
            return KubeRouterResult(status="already-tolerant"), None
        # Tolerations have no merge key (a list is replaced), so the full list goes in a merge patch
        # guarded by the resourceVersion we read.
        patch = {
            "metadata": {"resourceVersion": daemonset["metadata"]["resourceVersion"]},
            "spec": {"template": {"spec": {"tolerations": existing + missing}}},
        }
        try:
            rest.merge_patch(DAEMONSET_PATH, patch)
        except Conflict:
            continue
        return KubeRouterResult(status="patched", added_tolerations=missing), existing
    raise RetryableError(
        f"{KUBE_SYSTEM}/{KUBE_ROUTER_DAEMONSET}: still conflicting after {MAX_WRITE_ATTEMPTS} attempts"
    )
