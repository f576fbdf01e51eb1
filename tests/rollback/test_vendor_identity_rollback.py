"""Rollback of the vendor's ServiceAccount identity (identity_mode service-account) on the real control plane:
what the baseline did not have goes, what it had stays, and the kubeconfig secret follows the baseline."""

import json

import pytest

from kops_lambda.constants import KUBE_SYSTEM, vendor_kubeconfig_secret_name
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.vendor_identity import ensure_vendor_identity
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.cluster_state import snapshot_cluster
from kops_lambda.logic.rollback.vendor_identity import (
    rollback_vendor_kubeconfig,
    rollback_vendor_objects,
    vendor_object_refs,
)
from kops_lambda.models.rollback import Baseline
from tests.cluster.conftest import Cluster, MakeCluster, aws_client
from tests.cluster.test_vendor_identity import vendor_identity_cluster
from tests.rollback.test_cluster_rollback import baseline_of


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Cluster:
    return vendor_identity_cluster(make_cluster)


def vendor_baseline(cluster: Cluster) -> Baseline:
    """The baseline as RecordBaseline takes it: the vendor's objects and its kubeconfig secret included."""
    base = baseline_of(cluster)
    secret = aws_state.secret_snapshot(aws_client("secretsmanager"), vendor_kubeconfig_secret_name(cluster.name))
    return base.model_copy(
        update={
            "aws": base.aws.model_copy(update={"vendor_kubeconfig_secret": secret}),
            "cluster": snapshot_cluster(KubeRest(cluster.api), extra=vendor_object_refs(cluster.name)),
        }
    )


def ensure(cluster: Cluster) -> None:
    ensure_vendor_identity(
        aws_client("secretsmanager"),
        cluster.kubeconfig_secret_arn,
        cluster_name=cluster.name,
        kms_key_id=None,
        reader_arns=[],
    )


def test_what_this_execution_made_goes(cluster: Cluster) -> None:
    # Given a baseline without the vendor identity, then MapIdentity's work
    baseline = vendor_baseline(cluster)
    ensure(cluster)
    # When it is rolled back
    objects = rollback_vendor_objects(KubeRest(cluster.api), baseline)
    secret = rollback_vendor_kubeconfig(aws_client("secretsmanager"), baseline)
    # Then the token Secret, the binding and the account are gone, and so is the kubeconfig secret
    name = f"cast-kops-{cluster.name}"
    assert objects.removed == [
        f"Secret kube-system/{name}-token",
        f"ClusterRoleBinding {name}",
        f"ServiceAccount kube-system/{name}",
    ]
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, name) is None
    assert secret.removed == [f"secret kops-onboard/clusters/{cluster.name}/vendor-kubeconfig (deleted)"]
    sm = aws_client("secretsmanager")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=vendor_kubeconfig_secret_name(cluster.name))


def test_what_existed_before_stays_and_the_secret_gets_its_previous_value(cluster: Cluster) -> None:
    # Given the vendor identity from an earlier onboarding, and a baseline taken then
    ensure(cluster)
    sm = aws_client("secretsmanager")
    name = vendor_kubeconfig_secret_name(cluster.name)
    earlier = sm.get_secret_value(SecretId=name)["SecretString"]
    baseline = vendor_baseline(cluster)
    # When this execution writes a new kubeconfig (here: a new account, so a new token) and is rolled back
    cluster.kube.store.delete("v1/serviceaccounts", KUBE_SYSTEM, f"cast-kops-{cluster.name}")
    cluster.kube.store.delete("v1/secrets", KUBE_SYSTEM, f"cast-kops-{cluster.name}-token")
    ensure(cluster)
    assert sm.get_secret_value(SecretId=name)["SecretString"] != earlier
    objects = rollback_vendor_objects(KubeRest(cluster.api), baseline)
    secret = rollback_vendor_kubeconfig(sm, baseline)
    # Then the objects the baseline had are kept, and the secret's previous version is current again
    assert objects.removed == []
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, f"cast-kops-{cluster.name}") is not None
    assert [line.split(":")[0] for line in secret.restored] == [f"secret {name}"]
    # By stage: moto's UpdateSecretVersionStage moves the label but not the version a stage-less read returns
    current = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
    assert json.loads(current) == json.loads(earlier)


def test_a_baseline_from_before_identity_modes_touches_no_secret(cluster: Cluster) -> None:
    # Given a baseline without the vendor kubeconfig snapshot (taken before the field existed)
    baseline = baseline_of(cluster)
    assert baseline.aws.vendor_kubeconfig_secret is None
    ensure(cluster)
    # When / Then: that execution could not have written one, so its rollback leaves the secret alone
    assert rollback_vendor_kubeconfig(aws_client("secretsmanager"), baseline).model_dump() == {
        "removed": [],
        "restored": [],
        "kept": [],
    }
    aws_client("secretsmanager").describe_secret(SecretId=vendor_kubeconfig_secret_name(cluster.name))
