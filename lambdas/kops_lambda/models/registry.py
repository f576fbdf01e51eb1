"""The registry's cluster item, typed: what onboarding wrote of a cluster and what its readers rely on."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kops_lambda.constants import STATUS_ONBOARDED
from kops_lambda.models.base import SECRET_ARN_PATTERN, StrictModel


class ClusterRecord(BaseModel):
    """A cluster's item as read from the registry. Only the fields readers use are declared; the others
    (admin_kubeconfig, canary, drift...) are ignored, and nothing is re-validated beyond its type: the item
    is ours, written by onboarding."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cluster_key: str
    cluster_name: str = ""
    region: str = ""
    status: str = ""
    execution_id: str | None = None
    kubeconfig_secret_arn: str | None = None
    resources: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)  # what ValidateCluster found (vpc_id, identity_mode, ...)
    options: dict[str, Any] | None = None  # the onboarding input's options (RecordOnboarded; the drift check's)

    @property
    def onboarded(self) -> bool:
        return self.status == STATUS_ONBOARDED

    def resource(self, name: str) -> dict[str, Any]:
        """What onboarding recorded of one of its resources (access_key, drainer, ...); empty when nothing."""
        recorded = self.resources.get(name)
        return recorded if isinstance(recorded, dict) else {}

    @property
    def drainer_secret_arn(self) -> str | None:
        """The Spot handler's credential for the cluster, as IssueDrainerCredential recorded it (None: not yet)."""
        value = self.resource("drainer").get("secret_arn")
        return str(value) if value else None


class RegisteredCluster(StrictModel):
    """Output of FindCluster: the registry's record of the cluster to offboard."""

    cluster_key: str
    cluster_name: str
    region: str
    status: str
    kubeconfig_secret_arn: str | None = Field(default=None, pattern=SECRET_ARN_PATTERN)
