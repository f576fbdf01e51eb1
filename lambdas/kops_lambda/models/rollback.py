"""Rollback and offboarding: the pre-state snapshot (baseline), the cleanup steps' requests and results.

The baseline is what existed, before an onboarding execution touched anything, of every entity the
onboarding may create or change. It lives in the registry only (it holds ConfigMap data, never secret
values), under its own item keyed by the execution, so compensation can remove exactly what this
execution created and restore what it changed, whatever step failed and however far that step got.
"""

from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator

from kops_lambda.constants import SECRET_RECOVERY_DAYS_DEFAULT
from kops_lambda.models.base import StrictModel
from kops_lambda.models.onboarding import REGION_PATTERN, ClusterName

JsonObject = dict[str, Any]


# ---- Baseline ----


class SecretSnapshot(StrictModel):
    name: str
    exists: bool
    scheduled_for_deletion: bool = False
    current_version: str | None = None


class PolicySnapshot(StrictModel):
    default_version: str
    version_ids: list[str]


class UserSnapshot(StrictModel):
    attached_policy_arns: list[str]
    inline_policies: dict[str, str] = Field(description="policy name -> canonical JSON document")
    access_key_ids: list[str]
    tags: dict[str, str]


class RoleSnapshot(StrictModel):
    attached_policy_arns: list[str]
    tags: dict[str, str]


class AwsBaseline(StrictModel):
    partition: str
    account: str
    user_name: str
    user_arn: str
    user: UserSnapshot | None
    shared_policy_arn: str
    shared_policy: PolicySnapshot | None
    boundary_policy: PolicySnapshot | None = None
    cluster_policies: dict[str, PolicySnapshot] = Field(
        default_factory=dict, description="ARN -> versions of the cluster's own managed policies"
    )
    spot_role: RoleSnapshot | None
    key_pair_name: str
    key_pair_id: str | None
    access_key_secret: SecretSnapshot
    private_key_secret: SecretSnapshot
    drainer_secret: SecretSnapshot | None = Field(default=None, description="None: taken before drainers existed")
    # None: a baseline taken before identity_mode service-account existed.
    vendor_kubeconfig_secret: SecretSnapshot | None = None


class ConfigMapSnapshot(StrictModel):
    name: str = Field(description="in kube-system")
    resource_version: str | None = Field(description="None: the ConfigMap did not exist")
    data: dict[str, str] | None = None


class ObjectSnapshot(StrictModel):
    """One of our objects (RBAC of the identity mapping, the agent's) that existed before."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    resource_version: str


class ClusterBaseline(StrictModel):
    configmaps: list[ConfigMapSnapshot]
    authenticator_annotations: dict[str, str | None] | None = Field(
        description="Our two pod-template annotations of the authenticator DaemonSet; None: no DaemonSet"
    )
    kube_router_tolerations: list[JsonObject] | None = Field(description="None: no kube-router DaemonSet")
    objects: list[ObjectSnapshot]

    def configmap(self, name: str) -> ConfigMapSnapshot | None:
        return next((c for c in self.configmaps if c.name == name), None)

    def existed(self, kind: str, namespace: str | None, name: str) -> bool:
        return any(o.kind == kind and o.namespace == namespace and o.name == name for o in self.objects)


class Baseline(StrictModel):
    execution_id: str
    cluster_key: str
    cluster_name: str
    region: str
    kubeconfig_secret_arn: str
    taken_at: str
    registry_item: JsonObject | None = Field(description="The cluster's registry item as it was; None: absent")
    aws: AwsBaseline
    cluster: ClusterBaseline


class BaselineResult(StrictModel):
    """Output of RecordBaseline: what already existed (names only)."""

    taken_at: str
    registered_before: bool
    existing: list[str]


# ---- Cleanup steps (rollback and offboarding) ----

CleanupAction = Literal["rollback", "discard", "find", "offboard", "offboard-shared", "in-flight"]


class CleanupRequest(StrictModel):
    """Payload of each compensation and offboarding task."""

    execution_id: str
    action: CleanupAction
    state: JsonObject


class OffboardInput(StrictModel):
    """Execution input of the offboarding state machine."""

    cluster_name: ClusterName
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    secret_recovery_days: int = Field(
        default=SECRET_RECOVERY_DAYS_DEFAULT,
        description="Recovery window of the deleted secrets: 7 to 30 days, or 0 to delete them at once.",
    )
    skip_cluster_cleanup: StrictBool = Field(
        default=False,
        description="Leave the in-cluster objects alone (for a cluster that no longer exists or answers).",
    )

    @field_validator("secret_recovery_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if value != 0 and not 7 <= value <= 30:
            raise ValueError("must be 0 or between 7 and 30")
        return value


class CleanupSummary(StrictModel):
    """What one cleanup step did: names and ids only."""

    removed: list[str] = Field(default_factory=list)
    restored: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list, description="What exists and stays, with the reason")


class InFlightStep(StrictModel):
    """The Lambda task a stopped execution was in, whose function may still run."""

    state: str | None = Field(description="The Task state; None if the history names none before it")
    function: str = Field(description="The function's ARN, as the task's Resource names it")
    started_at: str
    timeout_seconds: int = Field(description="The function's configured timeout")
    runs_until: str = Field(description="Start + timeout + Lambda's Init limit + clock skew")


class InFlightResult(StrictModel):
    """Output of FindStepInFlight: what the compensation waits for before it undoes anything."""

    step: InFlightStep | None
    wait_seconds: int = Field(ge=0, description="0 when nothing was in flight")
