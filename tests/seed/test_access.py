"""seed_access_secret: the kubeconfig secret is idempotent and works against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import moto
import pytest
import yaml
from kubernetes import client, config

from kops_local.kube import KubeApiEmulator
from kops_local.seed import seed_access_secret, seed_kube
from tests.seed.conftest import aws_client, seed_aws_cluster

CLUSTER = "access.k8s.local"
SECRET_NAME = f"kops-onboard/clusters/{CLUSTER}/kubeconfig"


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with moto.mock_aws():
        yield aws_client("secretsmanager")


def _kubeconfig(secretsmanager: Any) -> dict[str, Any]:
    value = secretsmanager.get_secret_value(SecretId=SECRET_NAME)["SecretString"]
    return dict(yaml.safe_load(value))


def test_secret_is_created_tagged_and_holds_a_token_kubeconfig(secretsmanager: Any) -> None:
    # When the access secret is seeded
    arn = seed_access_secret(
        secretsmanager=secretsmanager, cluster_name=CLUSTER, kube_api_url="http://127.0.0.1:6443", token="t-1"
    )

    # Then it is named per cluster, tagged, and holds one cluster, one token user and the current context
    described = secretsmanager.describe_secret(SecretId=SECRET_NAME)
    assert described["ARN"] == arn
    assert {"Key": "managed-by", "Value": "kops-onboard"} in described["Tags"]
    kubeconfig = _kubeconfig(secretsmanager)
    assert kubeconfig["clusters"] == [{"name": CLUSTER, "cluster": {"server": "http://127.0.0.1:6443"}}]
    assert [u["user"] for u in kubeconfig["users"]] == [{"token": "t-1"}]
    assert kubeconfig["current-context"] == CLUSTER
    assert kubeconfig["contexts"][0]["context"]["cluster"] == CLUSTER


def test_seeding_again_updates_the_value_and_keeps_the_arn(secretsmanager: Any) -> None:
    # Given an existing access secret
    first = seed_access_secret(
        secretsmanager=secretsmanager, cluster_name=CLUSTER, kube_api_url="http://127.0.0.1:6443", token="t-1"
    )

    # When it is seeded again with a new token and URL
    second = seed_access_secret(
        secretsmanager=secretsmanager, cluster_name=CLUSTER, kube_api_url="http://127.0.0.1:7443", token="t-2"
    )

    # Then the same secret now holds the new kubeconfig
    assert second == first
    kubeconfig = _kubeconfig(secretsmanager)
    assert kubeconfig["users"][0]["user"] == {"token": "t-2"}
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:7443"
    assert len(secretsmanager.list_secrets()["SecretList"]) == 1


def test_kms_key_is_applied_on_create_and_update(secretsmanager: Any) -> None:
    # Given a customer-managed key
    key_id = aws_client("kms").create_key(Description="kops-onboard secrets")["KeyMetadata"]["KeyId"]

    # When the secret is created, then seeded again, with that key
    for token in ("t-1", "t-2"):
        seed_access_secret(
            secretsmanager=secretsmanager,
            cluster_name=CLUSTER,
            kube_api_url="http://127.0.0.1:6443",
            token=token,
            kms_key_id=key_id,
        )

    # Then the secret is encrypted with it
    assert secretsmanager.describe_secret(SecretId=SECRET_NAME)["KmsKeyId"] == key_id


def test_stored_kubeconfig_lists_the_nodes_of_the_seeded_cluster(secretsmanager: Any) -> None:
    # Given a seeded one-worker cluster behind an emulator that accepts a single token
    aws = seed_aws_cluster(f"{CLUSTER}:nodes=1,pods=1")
    with KubeApiEmulator(tokens=["access-token"], name=CLUSTER) as emulator:
        seeding = client.Configuration()
        seeding.host = emulator.url
        seeding.api_key = {"BearerToken": "access-token"}
        seeding.api_key_prefix = {"BearerToken": "Bearer"}
        with client.ApiClient(seeding) as api:
            kube = seed_kube(api, aws.spec, aws)

        # And its kubeconfig stored as the access secret
        seed_access_secret(
            secretsmanager=secretsmanager,
            cluster_name=CLUSTER,
            kube_api_url=emulator.url,
            token="access-token",
        )

        # When a client is built from the stored kubeconfig alone
        with config.new_client_from_config_dict(_kubeconfig(secretsmanager)) as api:
            nodes = client.CoreV1Api(api).list_node().items

        # Then it sees the cluster's nodes
        assert {n.metadata.name for n in nodes} == set(kube.node_names.values())
