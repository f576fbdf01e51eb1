"""MapIdentity's result in identity_mode service-account: names, statuses and the secret's ARN, never the token."""

from typing import Literal

from pydantic import Field

from kops_lambda.models.base import StrictModel
from kops_lambda.models.cluster import ObjectStatus, ObjectStatusValue


class VendorIdentityResult(StrictModel):
    """The vendor's ServiceAccount, its binding and token Secret, and where its kubeconfig is stored."""

    mode: Literal["service-account"] = "service-account"
    service_account: str = Field(description="namespace/name")
    username: str = Field(description="The username the API server gives the account's token")
    cluster_role: str
    objects: list[ObjectStatus] = Field(description="ServiceAccount, ClusterRoleBinding, token Secret")
    rbac: list[ObjectStatus] = Field(description="Our ClusterRoles and their group bindings, as in authenticator mode")
    kubeconfig_secret_arn: str
    kubeconfig_secret_status: ObjectStatusValue
