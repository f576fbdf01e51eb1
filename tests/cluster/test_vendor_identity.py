"""The vendor's ServiceAccount identity (identity_mode service-account) on the real control plane: the
account, its binding and token Secret, its kubeconfig in Secrets Manager, what that kubeconfig may do, onboarding again,
and removal. kube-apiserver's authenticator and authorizer judge the token (the emulator has neither)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from kubernetes import client as k8s

from kops_lambda.adapters.kubeconfig import api_client
from kops_lambda.constants import KUBE_SYSTEM, MANAGED_BY_LABEL, PRODUCT, vendor_kubeconfig_secret_name
from kops_lambda.errors import ForeignEntity
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.vendor_identity import ensure_vendor_identity
from kops_lambda.logic.rollback.vendor_identity import offboard_vendor_objects
from kops_lambda.models.vendor_identity import VendorIdentityResult
from tests.kube_clients import typed
from tests.kube_status import status_of

from .conftest import TOKEN, Cluster, MakeCluster, aws_client

READER = "arn:aws:iam::123456789012:role/kops-onboard-vendor-kubeconfig-reader"


def vendor_identity_cluster(make_cluster: MakeCluster) -> Cluster:
    """A kOps cluster without spec.authentication.aws, on the real control plane (its token controller fills
    the token Secret, its authorizer judges the token), with no vendor kubeconfig secret yet."""
    made = make_cluster("kops=1.21,auth=none", nodes=1, kube="real")
    # Clusters of one spec share their name in the module's account: no earlier test's secret may be seen.
    sm = aws_client("secretsmanager")
    with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
        sm.delete_secret(SecretId=vendor_kubeconfig_secret_name(made.name), ForceDeleteWithoutRecovery=True)
    return made


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Cluster:
    return vendor_identity_cluster(make_cluster)


def ensure(cluster: Cluster, **overrides: Any) -> VendorIdentityResult:
    options: dict[str, Any] = {"cluster_name": cluster.name, "kms_key_id": None, "reader_arns": [READER]}
    return ensure_vendor_identity(
        aws_client("secretsmanager"), cluster.kubeconfig_secret_arn, **{**options, **overrides}
    )


def stored_kubeconfig(cluster: Cluster) -> dict[str, Any]:
    value = aws_client("secretsmanager").get_secret_value(SecretId=vendor_kubeconfig_secret_name(cluster.name))
    parsed: dict[str, Any] = json.loads(value["SecretString"])
    return parsed


def test_the_stored_kubeconfig_lists_nodes_and_cannot_read_secrets(cluster: Cluster) -> None:
    # Given the vendor identity ensured on a cluster without the authenticator
    result = ensure(cluster)
    # When a client uses the kubeconfig stored in Secrets Manager, and nothing else
    with api_client(stored_kubeconfig(cluster)) as api:
        core = k8s.CoreV1Api(typed(api))
        # Then it lists nodes, as kops-onboard:cast-service allows
        assert [n.metadata.name for n in core.list_node().items]
        # And it reads no Secret, neither its own token Secret nor any other (403 from the authorizer)
        assert (
            status_of(lambda: core.read_namespaced_secret(f"{result.service_account.split('/')[1]}-token", KUBE_SYSTEM))
            == 403
        )
        assert status_of(core.list_secret_for_all_namespaces) == 403
        # And it writes no workload
        assert status_of(lambda: core.delete_namespaced_pod("any", "default")) == 403
    # And the API server knows it as the ServiceAccount, bound to the vendor's ClusterRole
    assert result.username == f"system:serviceaccount:kube-system:cast-kops-{cluster.name}"
    binding = cluster.object("rbac.authorization.k8s.io/v1/clusterrolebindings", None, f"cast-kops-{cluster.name}")
    assert binding["roleRef"]["name"] == "kops-onboard:cast-service"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"cast-kops-{cluster.name}", "namespace": KUBE_SYSTEM}
    ]


def test_the_kubeconfig_holds_server_ca_and_token_only_and_the_result_no_token(cluster: Cluster) -> None:
    # Given the vendor identity ensured
    result = ensure(cluster)
    kubeconfig = stored_kubeconfig(cluster)
    # Then the kubeconfig has one cluster (the server of the cluster's own kubeconfig secret) and one token user
    (entry,) = kubeconfig["clusters"]
    assert entry["cluster"] == {"server": cluster.kube.url}  # this test server speaks http: no CA to carry
    (user,) = kubeconfig["users"]
    assert list(user["user"]) == ["token"] and len(user["user"]["token"]) > 100
    assert user["user"]["token"] != TOKEN
    # And the token is the one the token controller put in the Secret, which never expires
    secret = cluster.object("v1/secrets", KUBE_SYSTEM, f"cast-kops-{cluster.name}-token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["labels"][MANAGED_BY_LABEL] == PRODUCT
    # And the step's result names things, never the token
    assert user["user"]["token"] not in json.dumps(result.model_dump(mode="json"))
    assert [(o.kind, o.status) for o in result.objects] == [
        ("ServiceAccount", "created"),
        ("ClusterRoleBinding", "created"),
        ("Secret", "created"),
    ]
    assert result.kubeconfig_secret_status == "created"


def test_the_secret_has_the_access_keys_tags_and_reader_policy(cluster: Cluster) -> None:
    # Given a KMS key for our secrets, and the vendor identity ensured with it
    key = aws_client("kms").create_key()["KeyMetadata"]["Arn"]
    result = ensure(cluster, kms_key_id=key)
    sm = aws_client("secretsmanager")
    described = sm.describe_secret(SecretId=result.kubeconfig_secret_arn)
    # Then it is encrypted with that key and tagged as ours, for this cluster
    assert described["Name"] == f"kops-onboard/clusters/{cluster.name}/vendor-kubeconfig"
    assert described["KmsKeyId"] == key
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {"managed-by": "kops-onboard", "cluster": cluster.name}
    # And only the named readers may read it
    policy = json.loads(sm.get_resource_policy(SecretId=result.kubeconfig_secret_arn)["ResourcePolicy"])
    (statement,) = policy["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "secretsmanager:GetSecretValue")
    assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [READER]}}


def test_a_rerun_writes_nothing_in_the_cluster_and_no_new_secret_version(cluster: Cluster) -> None:
    # Given the vendor identity ensured once
    first = ensure(cluster)
    sm = aws_client("secretsmanager")
    versions = secret_versions(sm, first.kubeconfig_secret_arn)
    cluster.kube.clear_requests()
    # When it is ensured again
    second = ensure(cluster)
    # Then everything is unchanged: no write to the cluster, the same single version of the secret
    assert {o.status for o in [*second.objects, *second.rbac]} == {"unchanged"}
    assert second.kubeconfig_secret_status == "unchanged"
    assert cluster.writes() == []
    assert secret_versions(sm, first.kubeconfig_secret_arn) == versions


def secret_versions(sm: Any, secret_id: str) -> list[tuple[str, tuple[str, ...]]]:
    """The secret's versions and stages; moto reports every version's dates as the time of the call."""
    listed = sm.list_secret_version_ids(SecretId=secret_id)["Versions"]
    return sorted((v["VersionId"], tuple(sorted(v["VersionStages"]))) for v in listed)


def test_a_recreated_token_secret_holds_the_same_token(cluster: Cluster) -> None:
    # Given the vendor identity, whose token Secret someone deleted
    first = ensure(cluster)
    old = stored_kubeconfig(cluster)
    cluster.kube.store.delete("v1/secrets", KUBE_SYSTEM, f"cast-kops-{cluster.name}-token")
    # When it is ensured again
    second = ensure(cluster)
    # Then the Secret is back with the very same token (a legacy token signs the account's uid and the
    # Secret's name, nothing that changes): only a new account revokes it, so removal deletes the account
    assert [(o.kind, o.status) for o in second.objects][-1] == ("Secret", "created")
    assert second.kubeconfig_secret_status == "unchanged"
    assert stored_kubeconfig(cluster) == old
    assert second.kubeconfig_secret_arn == first.kubeconfig_secret_arn


def test_a_new_account_stores_a_new_kubeconfig_version(cluster: Cluster) -> None:
    # Given the vendor identity, whose account and token Secret someone deleted (its token is revoked)
    ensure(cluster)
    old = stored_kubeconfig(cluster)
    cluster.kube.store.delete("v1/secrets", KUBE_SYSTEM, f"cast-kops-{cluster.name}-token")
    cluster.kube.store.delete("v1/serviceaccounts", KUBE_SYSTEM, f"cast-kops-{cluster.name}")
    # When it is ensured again
    result = ensure(cluster)
    # Then a new token is stored, and the old one no longer authenticates
    assert result.kubeconfig_secret_status == "updated"
    assert stored_kubeconfig(cluster)["users"] != old["users"]
    with api_client(old) as api:
        assert status_of(lambda: k8s.CoreV1Api(typed(api)).list_node()) == 401
    with api_client(stored_kubeconfig(cluster)) as api:
        assert status_of(lambda: k8s.CoreV1Api(typed(api)).list_node()) == 200


def test_a_foreign_account_of_that_name_is_refused(cluster: Cluster) -> None:
    # Given a ServiceAccount of our name that someone else made
    name = f"cast-kops-{cluster.name}"
    cluster.kube.store.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": KUBE_SYSTEM}}
    )
    # When / Then: it is not taken over, and no kubeconfig is stored
    with pytest.raises(ForeignEntity, match=name):
        ensure(cluster)
    sm = aws_client("secretsmanager")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=vendor_kubeconfig_secret_name(cluster.name))


def test_removal_revokes_the_token_and_leaves_nothing_of_ours(cluster: Cluster) -> None:
    # Given the vendor identity, whose kubeconfig works
    ensure(cluster)
    kubeconfig = stored_kubeconfig(cluster)
    # When offboarding removes it from the cluster
    summary = offboard_vendor_objects(KubeRest(cluster.api), cluster.name)
    # Then the token Secret, the binding and the account are gone, and the token is refused
    name = f"cast-kops-{cluster.name}"
    assert summary.removed == [
        f"Secret kube-system/{name}-token",
        f"ClusterRoleBinding {name}",
        f"ServiceAccount kube-system/{name}",
    ]
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, name) is None
    assert cluster.find("rbac.authorization.k8s.io/v1/clusterrolebindings", None, name) is None
    with api_client(kubeconfig) as api:
        assert status_of(lambda: k8s.CoreV1Api(typed(api)).list_node()) == 401
    # And a second removal finds nothing to do
    assert offboard_vendor_objects(KubeRest(cluster.api), cluster.name).removed == []
