"""Rollback and offboarding of IssueDrainerCredential on the real control plane: a re-onboarding's rollback
keeps the drainer account that existed and puts the credential's previous version back; an onboarding's
rollback removes both; offboarding with the cluster left alone still deletes the credential."""

from __future__ import annotations

import json

import pytest

from kops_lambda.constants import KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT, drainer_secret_name
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.cluster_state import snapshot_cluster
from kops_lambda.logic.rollback.drainer import offboard_drainer, rollback_drainer
from kops_lambda.models.rollback import Baseline
from tests.cluster.conftest import Cluster, MakeCluster, aws_client
from tests.cluster.test_drainer import issue
from tests.rollback.test_cluster_rollback import baseline_of


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Cluster:
    return make_cluster("kops=1.21,auth=none", nodes=1, kube="real")


def baseline(cluster: Cluster) -> Baseline:
    """What RecordBaseline would record now: the cluster's objects and the drainer secret as they are."""
    taken = baseline_of(cluster)
    secret = aws_state.secret_snapshot(aws_client("secretsmanager"), drainer_secret_name(cluster.name))
    return taken.model_copy(
        update={
            "aws": taken.aws.model_copy(update={"drainer_secret": secret}),
            "cluster": snapshot_cluster(KubeRest(cluster.api)),
        }
    )


def token_of(arn: str) -> str:
    # The AWSCURRENT stage, which AWS reads by default; moto's default stays on the last version written.
    value = aws_client("secretsmanager").get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    return str(json.loads(value)["token"])


def test_an_onboardings_rollback_removes_the_account_its_rbac_and_the_credential(cluster: Cluster) -> None:
    # Given the baseline before a first onboarding, then the drainer issued
    before = baseline(cluster)
    assert not before.cluster.existed("ServiceAccount", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT)
    issue(cluster)
    # When it is rolled back
    summary = rollback_drainer(KubeRest(cluster.api), aws_client("secretsmanager"), before)
    # Then the account, its bindings, its renewal Role and the secret are gone
    assert f"ServiceAccount {KUBE_SYSTEM}/{SPOT_DRAINER_SERVICE_ACCOUNT}" in summary.removed
    assert f"secret {drainer_secret_name(cluster.name)} (deleted)" in summary.removed
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is None
    assert (
        cluster.find("rbac.authorization.k8s.io/v1/roles", KUBE_SYSTEM, f"{SPOT_DRAINER_SERVICE_ACCOUNT}-token-renewal")
        is None
    )
    assert aws_state.secret_snapshot(aws_client("secretsmanager"), drainer_secret_name(cluster.name)).exists is False


def test_a_reonboardings_rollback_keeps_the_account_and_puts_the_previous_token_back(cluster: Cluster) -> None:
    # Given a cluster onboarded before (account and credential exist), the baseline of a re-onboarding, and
    # the re-onboarding's new token
    arn = issue(cluster)
    previous = token_of(arn)
    before = baseline(cluster)
    assert before.cluster.existed("ServiceAccount", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT)
    issue(cluster)
    changed = token_of(arn) != previous  # (compared here, not in the assertion: a failure would print tokens)
    assert changed
    # When the re-onboarding is rolled back
    summary = rollback_drainer(KubeRest(cluster.api), aws_client("secretsmanager"), before)
    # Then the account stays and the secret holds the token it held before
    assert summary.removed == []
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is not None
    restored = token_of(arn) == previous
    assert restored


def test_offboarding_without_the_cluster_still_deletes_the_credential(cluster: Cluster) -> None:
    # Given an issued drainer, and an offboarding told to leave the cluster alone
    issue(cluster)
    summary = offboard_drainer(
        None,
        aws_client("secretsmanager"),
        cluster_name=cluster.name,
        recovery_days=0,
        kept=["in-cluster objects: skipped on request (skip_cluster_cleanup)"],
    )
    # Then the secret went, the account stayed (and the summary says why)
    assert summary.removed == [f"secret {drainer_secret_name(cluster.name)} (deleted)"]
    assert summary.kept == ["in-cluster objects: skipped on request (skip_cluster_cleanup)"]
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is not None
