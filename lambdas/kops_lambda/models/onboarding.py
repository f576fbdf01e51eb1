"""The onboarding workflow's data contract: execution input and each step's result."""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator

from kops_lambda.models.base import SECRET_ARN_PATTERN, ResolvedIdentityMode, StrictModel

# kOps cluster names are DNS names (e.g. "prod.k8s.local", "prod.example.com").
CLUSTER_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"

# How our principals reach the cluster: IAM identities mapped by aws-iam-authenticator, or ServiceAccounts with
# long-lived tokens (clusters without the authenticator: kOps' default); `auto` picks by what the cluster runs.
IdentityMode = Literal["authenticator", "service-account", "auto"]
IDENTITY_MODES: tuple[ResolvedIdentityMode, ...] = ("authenticator", "service-account")

ClusterName = Annotated[
    str, Field(max_length=253, pattern=CLUSTER_NAME_PATTERN, description="kOps cluster name (a DNS name).")
]


class OnboardInput(StrictModel):
    """Execution input of the onboarding state machine."""

    cluster_name: ClusterName
    region: str | None = Field(
        default=None, pattern=REGION_PATTERN, description="Region of the cluster; defaults to the stack's."
    )
    kubeconfig_secret_arn: str = Field(
        pattern=SECRET_ARN_PATTERN,
        description="Secrets Manager secret holding a kubeconfig for the cluster (never the kubeconfig itself).",
    )
    agent_api_key_secret_arn: str = Field(
        pattern=SECRET_ARN_PATTERN,
        description="Secrets Manager secret holding the agent's API key (never the key itself).",
    )
    state_store: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$",
        description="kOps state store (KOPS_STATE_STORE), e.g. s3://my-kops-state. Used to read the kOps version.",
    )

    # Strict: JSON true/false only ("yes", "1" or 1 would otherwise be read as true).
    rotate_access_key: StrictBool = Field(
        default=False, description="Create a new access key, store it, then delete the previous one we made."
    )
    allow_s3_read: StrictBool = Field(
        default=False,
        description="Also attach AmazonS3ReadOnlyAccess. Off by default: the kOps state store in S3 holds the "
        "cluster CA's private key and other secrets, which read access to S3 would expose.",
    )

    adopt_existing: bool = Field(
        default=False,
        description="Adopt entities the vendor's script made (an untagged cast-kops-<cluster> user, CASTKopsPolicyV2, "
        "CastLambdaRoleForSpot): rewrite them to our documents and tag them as adopted; offboarding then leaves "
        "them. Without it onboarding refuses them.",
    )

    identity_mode: IdentityMode = Field(
        default="auto",
        description="How the vendor (and the Spot handler) authenticate to the cluster: `authenticator` (IAM user "
        "mapped by aws-iam-authenticator; fails with AuthenticationNotEnabled where none runs), `service-account` "
        "(a ServiceAccount token in a kubeconfig stored beside the access key; no IAM mapping) or `auto` "
        "(authenticator where it runs, else service-account). The mode used is in the registry and the output.",
    )

    plan_only: StrictBool = Field(
        default=False,
        description="Only plan: validate as onboarding does, then return what each step would create, update or "
        "refuse (per resource; IAM documents in full, secrets by name) and write nothing.",
    )

    @field_validator("state_store")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class InstanceGroupFacts(StrictModel):
    name: str
    asg_name: str
    role: Literal["node", "master"]
    min_size: int
    max_size: int
    desired_capacity: int
    instance_ids: list[str]


class AdminKubeconfig(StrictModel):
    """How long the kubeconfig secret's credential lasts, as ValidateCluster read it (never the credential)."""

    credential: Literal["client-certificate", "token", "none"]
    expires_at: datetime | None = Field(
        description="The client certificate's notAfter (UTC); None: no expiry known (a bearer token)"
    )
    warning: str | None = Field(default=None, description="Set when it expires within a day")


class ClusterFacts(StrictModel):
    """What the validate step discovered about the cluster."""

    cluster_name: str
    region: str
    vpc_id: str
    vpc_cidr: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    instance_groups: list[InstanceGroupFacts]
    kops_version: str
    kops_version_source: Literal["state-store", "user-data"]
    networking: str | None = None
    admin_kubeconfig: AdminKubeconfig | None = None
    # What ValidateCluster resolved; later steps read it from the registry, not from here.
    identity_mode: ResolvedIdentityMode | None = None


def kops_minor(version: str) -> str:
    """'1.21.3' -> '1.21'."""
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version
