"""The cluster-access secret the onboarding flow reads: a token kubeconfig in Secrets Manager."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef

# Secrets Manager name prefix of every cluster-access secret kops-onboard stores.
CLUSTERS_PREFIX = "kops-onboard/clusters"
MANAGED_BY = ("managed-by", "kops-onboard")


def kubeconfig_secret_name(cluster_name: str) -> str:
    return f"{CLUSTERS_PREFIX}/{cluster_name}/kubeconfig"


def _managed_by_tags() -> list[TagTypeDef]:
    return [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}]


def token_kubeconfig(
    *, cluster_name: str, kube_api_url: str, token: str, ca_certificate: str | None = None
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one token user and one (current) context."""
    user = f"kops-onboard@{cluster_name}"
    cluster: dict[str, Any] = {"server": kube_api_url}
    if ca_certificate:
        cluster["certificate-authority-data"] = base64.b64encode(ca_certificate.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
    }


def seed_access_secret(
    *,
    secretsmanager: SecretsManagerClient,
    cluster_name: str,
    kube_api_url: str,
    token: str,
    kms_key_id: str | None = None,
    ca_certificate: str | None = None,
) -> str:
    """Store the kubeconfig as ``kops-onboard/clusters/<cluster>/kubeconfig``; return the secret ARN.

    Idempotent: an existing secret gets the new value as its current version and keeps its ARN.
    """
    name = kubeconfig_secret_name(cluster_name)
    value = yaml.safe_dump(
        token_kubeconfig(
            cluster_name=cluster_name, kube_api_url=kube_api_url, token=token, ca_certificate=ca_certificate
        ),
        sort_keys=False,
    )
    try:
        if kms_key_id is None:
            created = secretsmanager.create_secret(Name=name, SecretString=value, Tags=_managed_by_tags())
        else:
            created = secretsmanager.create_secret(
                Name=name, SecretString=value, Tags=_managed_by_tags(), KmsKeyId=kms_key_id
            )
        return created["ARN"]
    except secretsmanager.exceptions.ResourceExistsException:
        pass
    updated = secretsmanager.put_secret_value(SecretId=name, SecretString=value)
    secretsmanager.tag_resource(SecretId=name, Tags=_managed_by_tags())
    if kms_key_id is not None:
        secretsmanager.update_secret(SecretId=name, KmsKeyId=kms_key_id)
    return updated["ARN"]
