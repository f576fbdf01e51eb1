"""A kubeconfig secret under the name onboarding accepts for a cluster that has no seeded AWS side."""

from typing import Any

from kops_lambda.constants import kubeconfig_secret_name
from kops_local.system import LocalCluster, LocalSystem


def kubeconfig_secret_for(system: LocalSystem, cluster_name: str, *, copy_of: LocalCluster) -> str:
    """`kops-onboard/clusters/<cluster_name>/kubeconfig` holding `copy_of`'s kubeconfig (a reachable server)."""
    secrets: Any = system.aws.client("secretsmanager")
    value = secrets.get_secret_value(SecretId=copy_of.kubeconfig_secret_arn)["SecretString"]
    name = kubeconfig_secret_name(cluster_name)
    try:
        return str(secrets.create_secret(Name=name, SecretString=value)["ARN"])
    except secrets.exceptions.ResourceExistsException:
        return str(secrets.describe_secret(SecretId=name)["ARN"])
