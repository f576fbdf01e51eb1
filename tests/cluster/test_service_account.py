"""ServiceAccount identities of ours on the real control plane: the account, its binding, tokens from the
TokenRequest API and from a token Secret, the connection built from them, and removal. The real
authenticator and authorizer judge every token (the emulator has neither), so these always run on the real
control plane."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes import client as k8s

from kops_lambda.adapters.kube import BearerToken, KubeClient
from kops_lambda.adapters.kubeconfig import api_client
from kops_lambda.constants import KUBE_SYSTEM, MANAGED_BY_LABEL, PRODUCT
from kops_lambda.errors import ClusterAccessError, ForeignEntity, ServiceAccountTokenPending
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.rbac import cluster_role
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import (
    PURPOSE_ANNOTATION,
    ServiceAccountConnection,
    ServiceAccountSpec,
    connection_kubeconfig,
    delete_service_account,
    ensure_service_account,
    ensure_token_secret,
    read_token_secret,
    request_token,
)
from kops_lambda.logic.rollback.report import Report
from tests.kube_clients import typed
from tests.kube_status import status_of
from tests.revocation import wait_until_allowed, wait_until_refused

from .conftest import Cluster, MakeCluster

ROLE = "kops-onboard:sa-test-reader"
# Written here, independently of the module: what the account's ClusterRole grants in these tests.
ROLE_RULES = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
SPEC = ServiceAccountSpec(namespace=KUBE_SYSTEM, name="kops-onboard-sa-test", cluster_role=ROLE, purpose="tests")
RENEWING = ServiceAccountSpec(
    namespace=KUBE_SYSTEM, name="kops-onboard-sa-renewing", cluster_role=ROLE, purpose="tests", self_renewal=True
)


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Cluster:
    cluster = make_cluster("kops=1.21", nodes=1, kube="real")
    ensure_objects(KubeRest(cluster.api), [cluster_role(ROLE, ROLE_RULES)])
    return cluster


def bound(cluster: Cluster, spec: ServiceAccountSpec) -> None:
    """Wait until the server's RBAC authorizer has seen the account's new bindings (its informer's lag)."""
    wait_until_allowed(cluster.kube, cluster.admin, spec.username, verb="list", resource="nodes")
    if spec.self_renewal:
        wait_until_allowed(
            cluster.kube,
            cluster.admin,
            spec.username,
            verb="create",
            resource="serviceaccounts",
            subresource="token",
            namespace=spec.namespace,
            name=spec.name,
        )


def as_token(cluster: Cluster, token: str) -> k8s.CoreV1Api:
    """A client that sends `token` through the test proxy (passed through untouched to kube-apiserver)."""
    configuration = k8s.Configuration(
        host=cluster.kube.url, api_key={"BearerToken": token}, api_key_prefix={"BearerToken": "Bearer"}
    )
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def test_the_account_and_its_binding_are_ours_and_a_rerun_writes_nothing(cluster: Cluster) -> None:
    # Given a cluster without the account
    rest = KubeRest(cluster.api)
    # When it is ensured twice
    first = ensure_service_account(rest, SPEC, cluster_name=cluster.name)
    cluster.kube.clear_requests()
    second = ensure_service_account(rest, SPEC, cluster_name=cluster.name)
    # Then the first run created the account and its binding, the second found them exact and wrote nothing
    assert [(s.kind, s.status) for s in first] == [("ServiceAccount", "created"), ("ClusterRoleBinding", "created")]
    assert {s.status for s in second} == {"unchanged"}
    assert cluster.writes() == []
    account = cluster.object("v1/serviceaccounts", KUBE_SYSTEM, SPEC.name)
    assert account["metadata"]["labels"][MANAGED_BY_LABEL] == PRODUCT
    assert account["metadata"]["annotations"][PURPOSE_ANNOTATION] == "tests"
    binding = cluster.object("rbac.authorization.k8s.io/v1/clusterrolebindings", None, SPEC.binding_name)
    assert binding["roleRef"]["name"] == ROLE
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SPEC.name, "namespace": KUBE_SYSTEM}]


def test_a_token_request_token_is_the_account_with_its_role_and_its_expiry(cluster: Cluster) -> None:
    # Given the account
    rest = KubeRest(cluster.api)
    ensure_service_account(rest, SPEC, cluster_name=cluster.name)
    # When a token is requested for 10 minutes
    before = datetime.now(UTC)
    issued = request_token(rest, SPEC, expiration_seconds=600)
    # Then its expiry is what was asked (the server rounds to the second) and the token is kept out of repr
    assert issued.expires_at is not None
    assert 590 <= (issued.expires_at - before).total_seconds() <= 610
    assert issued.token not in repr(issued)
    # And the real server authenticates it as the account, authorized by its ClusterRole only
    bound(cluster, SPEC)
    core = as_token(cluster, issued.token)
    assert status_of(lambda: core.list_node(limit=1)) == 200
    assert status_of(lambda: core.list_namespaced_secret(KUBE_SYSTEM, limit=1)) == 403
    assert status_of(lambda: core.list_namespaced_pod(KUBE_SYSTEM, limit=1)) == 403
    review = k8s.AuthenticationV1Api(cluster.admin).create_token_review({"spec": {"token": issued.token}})
    assert review.status.authenticated is True
    assert review.status.user.username == SPEC.username


def test_an_account_with_self_renewal_renews_its_own_token_and_nobody_elses(cluster: Cluster) -> None:
    # Given two accounts, one allowed to renew itself, and a token of it issued by the admin
    admin = KubeRest(cluster.api)
    statuses = ensure_service_account(admin, RENEWING, cluster_name=cluster.name)
    ensure_service_account(admin, SPEC, cluster_name=cluster.name)
    assert [s.kind for s in statuses] == ["ServiceAccount", "ClusterRoleBinding", "Role", "RoleBinding"]
    bound(cluster, RENEWING)
    first = request_token(admin, RENEWING, expiration_seconds=600)
    own = KubeRest(KubeClient(cluster.kube.url, token=BearerToken(lambda: first.token)))
    # When it requests a new token with its own token
    renewed = request_token(own, RENEWING, expiration_seconds=600)
    # Then the new token works and is another token; a token for the other account is refused
    assert renewed.token != first.token
    assert status_of(lambda: as_token(cluster, renewed.token).list_node(limit=1)) == 200
    with pytest.raises(ClusterAccessError, match="refused"):
        request_token(own, SPEC, expiration_seconds=600)


def test_a_token_secret_is_filled_by_the_controller_and_its_token_works(cluster: Cluster) -> None:
    # Given the account and, before its Secret exists, a read that may not wait
    rest = KubeRest(cluster.api)
    ensure_service_account(rest, SPEC, cluster_name=cluster.name)
    with pytest.raises(ServiceAccountTokenPending, match=SPEC.token_secret_name):
        read_token_secret(rest, SPEC, wait_seconds=0)
    # When its token Secret is created and read (the bounded wait lets the token controller fill it)
    assert ensure_token_secret(rest, SPEC, cluster_name=cluster.name).status == "created"
    issued = read_token_secret(rest, SPEC)
    bound(cluster, SPEC)
    # Then the token is the account's, without an expiry, and a second ensure changes nothing
    assert issued.expires_at is None
    assert status_of(lambda: as_token(cluster, issued.token).list_node(limit=1)) == 200
    assert ensure_token_secret(rest, SPEC, cluster_name=cluster.name).status == "unchanged"


def test_the_minimal_kubeconfig_reaches_the_cluster_as_the_account(cluster: Cluster) -> None:
    # Given a token of the account and the connection built from it
    rest = KubeRest(cluster.api)
    ensure_service_account(rest, SPEC, cluster_name=cluster.name)
    bound(cluster, SPEC)
    issued = request_token(rest, SPEC, expiration_seconds=600)
    connection = ServiceAccountConnection(server=cluster.kube.url, ca_pem=None, token=issued.token)
    # When the kubeconfig of that connection is loaded like any other
    kubeconfig = connection_kubeconfig(connection, cluster_name=cluster.name, user=SPEC.name)
    core = k8s.CoreV1Api(typed(api_client(kubeconfig)))
    # Then it is the account (nodes yes, secrets no), and it holds the token only as its user's credential
    assert status_of(lambda: core.list_node(limit=1)) == 200
    assert status_of(lambda: core.list_namespaced_secret(KUBE_SYSTEM, limit=1)) == 403
    assert kubeconfig["users"] == [{"name": SPEC.name, "user": {"token": issued.token}}]
    assert issued.token not in repr(connection)


def test_an_account_of_that_name_not_ours_is_refused_and_left_alone(cluster: Cluster) -> None:
    # Given someone else's ServiceAccount with our name
    cluster.kube.store.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SPEC.name, "namespace": KUBE_SYSTEM}}
    )
    cluster.kube.clear_requests()
    # When we ensure ours, Then it is refused by name and nothing is written
    with pytest.raises(ForeignEntity, match=f"ServiceAccount {KUBE_SYSTEM}/{SPEC.name}"):
        ensure_service_account(KubeRest(cluster.api), SPEC, cluster_name=cluster.name)
    assert cluster.writes() == []
    # And removal keeps it too
    report = Report()
    delete_service_account(KubeRest(cluster.api), SPEC, report)
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, SPEC.name) is not None
    assert report.kept == [f"ServiceAccount {KUBE_SYSTEM}/{SPEC.name}: not labelled {MANAGED_BY_LABEL}={PRODUCT}"]


def test_removal_deletes_everything_and_revokes_the_tokens(cluster: Cluster) -> None:
    # Given the account with renewal, its token Secret and a requested token
    rest = KubeRest(cluster.api)
    ensure_service_account(rest, RENEWING, cluster_name=cluster.name)
    ensure_token_secret(rest, RENEWING, cluster_name=cluster.name)
    secret_token = read_token_secret(rest, RENEWING).token
    requested = request_token(rest, RENEWING, expiration_seconds=600).token
    # When it is removed, twice
    first, second = Report(), Report()
    delete_service_account(rest, RENEWING, first)
    delete_service_account(rest, RENEWING, second)
    # Then every object went the first time (the Secret first, the account last) and nothing the second
    assert first.removed == [
        f"Secret {KUBE_SYSTEM}/{RENEWING.token_secret_name}",
        f"RoleBinding {KUBE_SYSTEM}/{RENEWING.renewal_role_name}",
        f"Role {KUBE_SYSTEM}/{RENEWING.renewal_role_name}",
        f"ClusterRoleBinding {RENEWING.binding_name}",
        f"ServiceAccount {KUBE_SYSTEM}/{RENEWING.name}",
    ]
    assert second.removed == [] and second.kept == []
    # And both tokens are refused once the server has taken notice: it checks their account still exists
    for token in (secret_token, requested):
        wait_until_refused(cluster.kube, cluster.admin, token)
        assert status_of(lambda t=token: as_token(cluster, t).list_node(limit=1)) == 401
