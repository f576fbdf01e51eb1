"""Which identity our principals use on a cluster, decided once per onboarding (ValidateCluster) and read
back from the registry by every later step (and the Spot handler's drainer), never from the execution state.

* `authenticator`: IAM principals mapped by aws-iam-authenticator (identity_mapping.py). Requested on a
  cluster without one: AuthenticationNotEnabled with what to change in kOps, before anything is written;
  a backend we cannot write: UnsupportedAuthBackend.
* `service-account`: ServiceAccounts with long-lived tokens (vendor_identity.py); no IAM mapping.
* `auto`: `authenticator` where its DaemonSet runs, else `service-account` (kOps' default:
  spec.authentication.aws is opt-in). Where the kOps spec enables the authenticator but its DaemonSet is
  missing, the cluster is half-updated: AuthenticationNotEnabled rather than a silent second identity path
  that would outlive the authenticator's arrival.
"""

from typing import Any

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.errors import ClusterNotFound
from kops_lambda.logic.cluster.identity_mapping import authenticator_daemonset, detect_backend
from kops_lambda.logic.cluster.kops_spec import authentication_spec
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.registry import registered_cluster
from kops_lambda.models.base import ResolvedIdentityMode
from kops_lambda.models.onboarding import IDENTITY_MODES, IdentityMode


def resolve_identity_mode(
    api: KubeClient, *, cluster_name: str, requested: IdentityMode, kops_spec: dict[str, Any] | None
) -> ResolvedIdentityMode:
    """The mode actually used on the cluster; raises AuthenticationNotEnabled / UnsupportedAuthBackend (see
    the module docstring). Reads only (one or two GETs of the authenticator DaemonSet)."""
    if requested == "service-account":
        return "service-account"
    rest = KubeRest(api)
    spec = authentication_spec(kops_spec)
    if requested == "auto" and authenticator_daemonset(rest) is None and not (spec and spec.aws_enabled):
        return "service-account"
    detect_backend(rest, cluster_name=cluster_name, spec=spec)
    return "authenticator"


def registered_identity_mode(table: Any, *, region: str, cluster_name: str) -> ResolvedIdentityMode:
    """The mode ValidateCluster recorded. Clusters onboarded before modes existed have none recorded: they
    were onboarded through the authenticator, the only way there was."""
    registered = registered_cluster(table, region=region, cluster_name=cluster_name)
    if registered is None:
        raise ClusterNotFound(f"cluster {cluster_name!r} in {region} is not in the registry")
    mode = registered.facts.get("identity_mode", "authenticator")
    for known in IDENTITY_MODES:
        if mode == known:
            return known
    raise ClusterNotFound(f"cluster {cluster_name!r} in {region} has an unknown identity mode in the registry")
