"""ValidateCluster's checks of the cluster itself, shared by onboarding and its plan (each handler first calls
`check_region_covered`, before any AWS call): the cluster exists and runs a supported kOps version
(logic/discovery), the API server behind the kubeconfig secret is its own (logic/cluster/binding) and its
identity mode is resolved (logic/cluster/identity_mode). Reads only; the caller decides what to record."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kops_lambda.adapters.kubeconfig import load_kubeconfig
from kops_lambda.logic.cluster.access import admin_kubeconfig, connected_api
from kops_lambda.logic.cluster.binding import verify_api_server
from kops_lambda.logic.cluster.identity_mode import resolve_identity_mode
from kops_lambda.logic.cluster.kops_spec import read_kops_spec
from kops_lambda.logic.discovery import discover_cluster
from kops_lambda.models.base import ResolvedIdentityMode
from kops_lambda.models.onboarding import AdminKubeconfig, ClusterFacts, OnboardInput


@dataclass(frozen=True)
class ValidatedCluster:
    facts: ClusterFacts  # with identity_mode and admin_kubeconfig filled in
    identity_mode: ResolvedIdentityMode
    admin: AdminKubeconfig
    kops_spec: dict[str, Any] | None
    # The kubeconfig as read from its secret: for connecting again, never for a result or a log.
    kubeconfig: dict[str, Any] = field(repr=False)


def validate_cluster(
    onboard: OnboardInput,
    *,
    region: str,
    kubeconfig_secret_arn: str,
    ec2: Any,
    autoscaling: Any,
    s3: Any,
    secretsmanager: Any,
) -> ValidatedCluster:
    facts = discover_cluster(
        ec2=ec2,
        autoscaling=autoscaling,
        s3=s3,
        cluster_name=onboard.cluster_name,
        region=region,
        state_store=onboard.state_store,
    )
    kops_spec = read_kops_spec(s3, onboard.state_store, onboard.cluster_name)
    kubeconfig = load_kubeconfig(secretsmanager, kubeconfig_secret_arn)
    with connected_api(kubeconfig) as api:
        verify_api_server(api, ec2, cluster_name=onboard.cluster_name, region=region)
        identity_mode = resolve_identity_mode(
            api, cluster_name=onboard.cluster_name, requested=onboard.identity_mode, kops_spec=kops_spec
        )
    admin = admin_kubeconfig(kubeconfig, now=datetime.now(UTC))
    return ValidatedCluster(
        facts=facts.model_copy(update={"identity_mode": identity_mode, "admin_kubeconfig": admin}),
        identity_mode=identity_mode,
        admin=admin,
        kops_spec=kops_spec,
        kubeconfig=kubeconfig,
    )
