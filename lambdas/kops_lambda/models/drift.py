"""The drift check's result: per onboarded cluster, what differs from what onboarding made (logic/drift).

It holds kinds, names, ARNs and what differs, never a secret value (secrets are named; their resource policies
are compared by statement)."""

from typing import Literal

from pydantic import Field

from kops_lambda.models.base import StrictModel

DriftKind = Literal["missing", "changed", "extra", "refused"]


class DriftedResource(StrictModel):
    """One resource that is not as onboarding left it."""

    kind: str = Field(description="As a plan names it: iam-policy, iam-user, ConfigMap, ClusterRole, ...")
    name: str
    drift: DriftKind = Field(
        description="missing: onboarding would create it; changed: it would update it; extra: something onboarding "
        "never makes is attached to or made for our identities; refused: onboarding would stop on it"
    )
    changes: list[str] = Field(default_factory=list, description="What differs, one line each")
    widens_access: bool = False
    widening: list[str] = Field(default_factory=list, description="Why it widens access, one line each")


class ClusterDrift(StrictModel):
    """One cluster's drift check (the registry's `drift` attribute)."""

    cluster_name: str
    region: str
    checked_at: str
    error: str | None = Field(default=None, description="Set when the check could not be made (then no resources)")
    resources: list[DriftedResource] = Field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.resources)

    @property
    def widens_access(self) -> bool:
        return any(r.widens_access for r in self.resources)
