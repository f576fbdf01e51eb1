"""Results of the in-cluster steps (MapIdentity, InstallAgent, IssueDrainerCredential): names and statuses,
never secret values.

What a step returns goes into the execution state and its history, so it carries no ConfigMap data and
no key material; what rollback needs (the previous value of a key we changed, the tolerations we
replaced) is a separate record that only goes to the registry.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from kops_lambda.constants import AGENT_API_URL_DEFAULT
from kops_lambda.models.base import StrictModel
from kops_lambda.models.drainer import DrainerMode

ObjectStatusValue = Literal["created", "updated", "unchanged"]
AuthBackend = Literal["EKSConfigMap", "MountedFile", "CRD"]


class ObjectStatus(StrictModel):
    """One Kubernetes object we create or update; `namespace` is None for cluster-scoped kinds."""

    kind: str
    name: str
    namespace: str | None = None
    status: ObjectStatusValue


class MappingStatus(StrictModel):
    """One IAM principal mapped into the cluster's authenticator."""

    kind: Literal["user", "role"]
    arn: str
    username: str
    groups: list[str]
    status: Literal["added", "updated", "unchanged"]


class IdentityMappingResult(StrictModel):
    """Output of MapIdentity."""

    backend: AuthBackend
    configmap: str | None = Field(description="namespace/name of the ConfigMap holding the mappings (CRD: None)")
    configmap_status: ObjectStatusValue | None = Field(description="CRD: None (see identity_mappings)")
    changed_keys: list[str] = Field(description="ConfigMap keys we rewrote (every other key is untouched)")
    resource_version: str | None = Field(
        description="The ConfigMap's resourceVersion after our write (or as read); CRD: None"
    )
    identity_mappings: list[ObjectStatus] = Field(
        default_factory=list, description="CRD only: our IAMIdentityMapping objects"
    )
    mappings: list[MappingStatus]
    daemonset_restarted: bool = Field(
        description="MountedFile only: the authenticator DaemonSet was rolled to load the new config"
    )
    rbac: list[ObjectStatus]


class IdentityMappingBackup(StrictModel):
    """What rollback needs; recorded in the registry only (it holds the ConfigMap's previous data)."""

    configmap: str
    configmap_created: bool
    previous_resource_version: str | None
    written_resource_version: str
    previous_values: dict[str, str | None] = Field(
        description="Each key we changed -> its previous value (None: the key did not exist)"
    )
    added_arns: list[str]
    updated_arns: list[str]


class CrdObjectBackup(StrictModel):
    """One of our IAMIdentityMapping objects as it was before our write, and the version we wrote."""

    name: str
    previous: dict[str, Any] | None = Field(description="Its labels and spec before (None: it did not exist)")
    written_resource_version: str


class IdentityMappingCrdBackup(StrictModel):
    """What rollback of the CRD backend needs (registry only): the objects we created or changed."""

    objects: list[CrdObjectBackup]


class IdentityMappingOutcome(StrictModel):
    result: IdentityMappingResult
    backup: IdentityMappingBackup | None = None  # None: nothing was written to the ConfigMap
    crd_backup: IdentityMappingCrdBackup | None = None  # None: no IAMIdentityMapping was written

    def registry_resources(self) -> dict[str, dict[str, Any]]:
        """resources["identity_mapping"] when we changed the ConfigMap or an IAMIdentityMapping; nothing
        otherwise, so a rerun that changes nothing never overwrites the backup of the run that did."""
        if self.backup is not None:
            return {
                "identity_mapping": {
                    **self.result.model_dump(mode="json"),
                    "backup": self.backup.model_dump(mode="json"),
                }
            }
        if self.crd_backup is not None:
            return {
                "identity_mapping": {
                    **self.result.model_dump(mode="json"),
                    "crd_backup": self.crd_backup.model_dump(mode="json"),
                }
            }
        return {}


class KubeRouterResult(StrictModel):
    status: Literal["patched", "already-tolerant", "not-applicable"]
    added_tolerations: list[dict[str, str]] = Field(default_factory=list)


class AgentInstallResult(StrictModel):
    """Output of InstallAgent."""

    namespace: str
    agent_image: str
    autoscaler_image: str
    objects: list[ObjectStatus]
    kube_router: KubeRouterResult


class AgentInstallOutcome(StrictModel):
    result: AgentInstallResult
    previous_kube_router_tolerations: list[dict[str, Any]] | None = None  # set when we patched it

    def registry_resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = {"agent": self.result.model_dump(mode="json")}
        if self.previous_kube_router_tolerations is not None:
            resources["kube_router"] = {
                **self.result.kube_router.model_dump(mode="json"),
                "previous_tolerations": self.previous_kube_router_tolerations,
            }
        return resources


class ClusterStepSettings(StrictModel):
    """Environment of the MapIdentity and InstallAgent functions (besides the shared Settings)."""

    spot_handler_role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
    agent_api_url: str = Field(default=AGENT_API_URL_DEFAULT, pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$")
    # The Spot handler's force-delete opt-in: its ClusterRole then may delete pods.
    spot_force_delete: bool = False


class DrainerCredentialResult(StrictModel):
    """Output of IssueDrainerCredential: where the credential (models/drainer.py) is, never what it holds."""

    mode: DrainerMode
    secret_arn: str
    service_account: str | None
    token_expires_at: datetime | None
    objects: list[ObjectStatus] = Field(description="service-account mode: the account and its RBAC")
