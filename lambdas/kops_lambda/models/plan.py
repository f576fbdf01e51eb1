"""The onboarding plan: what onboarding would create or change, per resource, found without writing anything.

A plan holds names, ARNs, policy documents and diffs of the mapping ConfigMaps' keys we would change; never
a secret value (secrets are listed by name; the key pair's and access key's material does not exist yet).
"""

from typing import Any, Literal

from pydantic import Field

from kops_lambda.models.base import ResolvedIdentityMode, StrictModel

PlanAction = Literal["create", "update", "unchanged", "refuse"]
PLAN_ACTIONS: tuple[PlanAction, ...] = ("create", "update", "unchanged", "refuse")
# Ends a change that removes what onboarding never makes but finds on our identities (a policy attached by hand).
FOREIGN_MARK = " (not onboarding's)"


class PlannedResource(StrictModel):
    """One resource onboarding creates or converges, and what it would do to it."""

    kind: str = Field(description="e.g. iam-user, iam-policy, ec2-key-pair, secret, ConfigMap, ClusterRole")
    name: str
    action: PlanAction
    changes: list[str] = Field(default_factory=list, description="update: what would change, one line each")
    reason: str | None = Field(default=None, description="refuse: why onboarding would stop here")
    document: dict[str, Any] | None = Field(default=None, description="IAM: the full document onboarding writes")
    diff: str | None = Field(default=None, description="A mapping ConfigMap's changed keys as a unified diff")


class OnboardingPlan(StrictModel):
    """Output of the plan (`plan_only: true`, or `kops-onboard plan`)."""

    cluster_name: str
    region: str
    kops_version: str
    identity_mode: ResolvedIdentityMode
    identity_backend: str | None = Field(description="The authenticator backend mapped into (None: service-account)")
    resources: list[PlannedResource]
    not_covered: list[str] = Field(description="What onboarding also does that this plan does not evaluate")

    def counts(self) -> dict[str, int]:
        return {action: sum(r.action == action for r in self.resources) for action in PLAN_ACTIONS}
