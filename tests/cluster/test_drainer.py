"""The Spot handler's drainer credential, issued by onboarding and used alone, on the real control plane: what
the secret holds and who may read it, what the drainer identity may do (the real authorizer decides), its
renewal with its own token, and a revoked or expired token."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import urllib3
from kubernetes import client as k8s

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.constants import KUBE_SYSTEM, SPOT_DRAINER_GROUP, SPOT_TAINT_KEY
from kops_lambda.errors import ClusterAccessError, InvalidSettings
from kops_lambda.logic.cluster.drainer import DRAINER_ACCOUNT, issue_drainer_credential, renew_drainer_credential
from kops_lambda.logic.cluster.drainer_client import drainer_api_client, read_drainer_credential
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import request_token
from kops_lambda.logic.spot.drain import drain_node
from kops_lambda.logic.spot.node import InstanceInfo, find_node, node_patch, patch_node
from kops_lambda.logic.spot.node_events import NodeEventRecorder
from kops_lambda.settings import SpotAction
from tests.cluster.test_identity_mapping import map_identity
from tests.kube_clients import typed
from tests.kube_status import status_of
from tests.revocation import wait_until_refused

from .conftest import Cluster, MakeCluster, aws_client

RETRIES = urllib3.Retry(total=0)


def issue(cluster: Cluster, mode: str = "service-account", **overrides: object) -> str:
    options: dict[str, object] = {
        "kubeconfig_secret_arn": cluster.kubeconfig_secret_arn,
        "cluster_name": cluster.name,
        "mode": mode,
        "kops_version": cluster.facts.kops_version,
        "spot_role_arn": cluster.spot_role_arn,
        "kms_key_id": None,
        "spot_force_delete": False,
        **overrides,
    }
    result = issue_drainer_credential(aws_client("secretsmanager"), **options)  # type: ignore[arg-type]
    return result.secret_arn


def drainer_core(secret_arn: str) -> KubeClient:
    """What the Spot handler builds: the credential in the secret, nothing else."""
    credential = read_drainer_credential(aws_client("secretsmanager"), secret_arn)
    return drainer_api_client(credential, None, retries=RETRIES, now=datetime.now(UTC))


def drainer_typed(secret_arn: str) -> k8s.CoreV1Api:
    """The official client, as the identity of the credential in the secret."""
    return k8s.CoreV1Api(typed(drainer_core(secret_arn)))


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Cluster:
    """A kOps 1.21 cluster without aws-iam-authenticator (kOps' default) on the real control plane."""
    return make_cluster("kops=1.21,auth=none", nodes=2, kube="real")


def test_the_credential_holds_the_server_and_a_day_long_token_and_only_the_spot_role_may_read_it(
    cluster: Cluster,
) -> None:
    # Given a cluster without the authenticator
    sm = aws_client("secretsmanager")
    before = datetime.now(UTC)
    # When onboarding issues the drainer credential
    result = issue_drainer_credential(
        sm,
        kubeconfig_secret_arn=cluster.kubeconfig_secret_arn,
        cluster_name=cluster.name,
        mode="service-account",
        kops_version=cluster.facts.kops_version,
        spot_role_arn=cluster.spot_role_arn,
        kms_key_id=None,
        spot_force_delete=False,
    )
    # Then the secret is the cluster's drainer secret, JSON with the server, the mode and a token of ~24 h
    assert f":secret:kops-onboard/clusters/{cluster.name}/spot-drainer-" in result.secret_arn
    stored = json.loads(sm.get_secret_value(SecretId=result.secret_arn)["SecretString"])
    assert stored["server"] == cluster.kube.url and stored["cluster_id"] == cluster.name
    assert stored["mode"] == "service-account" and stored["service_account"] == "kube-system/kops-onboard-spot-drainer"
    expires = datetime.fromisoformat(stored["expires_at"])
    assert timedelta(hours=23, minutes=59) <= expires - before <= timedelta(hours=24, minutes=1)
    # And the step's result names the secret and the expiry, never the token
    assert stored["token"] not in result.model_dump_json()
    assert result.token_expires_at == expires
    # And it is tagged ours, and its resource policy denies every reader but the Spot handler's role
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=result.secret_arn)["Tags"]}
    assert tags == {"managed-by": "kops-onboard", "cluster": cluster.name}
    (statement,) = json.loads(sm.get_resource_policy(SecretId=result.secret_arn)["ResourcePolicy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [cluster.spot_role_arn]}}


def test_the_drainer_identity_cordons_drains_and_records_but_cannot_read_secrets_or_escalate(
    cluster: Cluster,
) -> None:
    # Given the drainer credential and a client built from it alone
    core = drainer_core(issue(cluster))
    worker = next(i for i in cluster.aws.instances if i.role == "node")
    instance = InstanceInfo(worker.instance_id, worker.az, worker.private_dns_name, cluster.name, worker.asg_name)
    # When the product's Spot steps run with it: find the node, cordon + taint, record, drain
    found = find_node(core, instance)
    assert found is not None
    node, _ = found
    patch = node_patch(node, action=SpotAction.DRAIN, event_id="drainer-test-event")
    assert patch is not None
    patch_node(core, node["metadata"]["name"], patch)
    with ThreadPoolExecutor(max_workers=1) as executor:
        recorder = NodeEventRecorder(core, node, executor=executor, instance=worker.instance_id)
        recorder.record("SpotInterruption", "drain test as the drainer ServiceAccount")
        for pending in recorder.pending:
            pending.result()
    report = drain_node(core, node["metadata"]["name"], deadline=time.time() + 20, concurrency=4)
    # Then the real authorizer allowed each step
    stored = cluster.kube.store.get("v1/nodes", None, node["metadata"]["name"])
    assert stored is not None and stored["spec"]["unschedulable"] is True
    assert any(t["key"] == SPOT_TAINT_KEY for t in stored["spec"]["taints"])
    assert report.evicted and not report.left, report
    # And it is refused secrets, pod deletion, RBAC and tokens of other accounts
    judge = k8s.CoreV1Api(typed(core))
    assert status_of(lambda: judge.list_secret_for_all_namespaces(limit=1)) == 403
    assert status_of(lambda: judge.read_namespaced_secret("any", KUBE_SYSTEM)) == 403
    assert status_of(lambda: judge.delete_namespaced_pod("any", "default")) == 403
    assert status_of(lambda: judge.delete_node(node["metadata"]["name"])) == 403
    rbac = k8s.RbacAuthorizationV1Api(judge.api_client)
    binding = {
        "metadata": {"name": "x"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    }
    assert status_of(lambda: rbac.create_cluster_role_binding(binding)) == 403
    token_request = {"spec": {"expirationSeconds": 600}}
    assert (
        status_of(lambda: judge.create_namespaced_service_account_token("default", KUBE_SYSTEM, token_request)) == 403
    )
    # And the server knows it as the drainer ServiceAccount (not an admin, not a group of ours)
    review = k8s.AuthenticationV1Api(cluster.admin).create_token_review(
        {"spec": {"token": judge.api_client.configuration.api_key["BearerToken"]}}
    )
    assert review.status.user.username == DRAINER_ACCOUNT.username
    assert SPOT_DRAINER_GROUP not in (review.status.user.groups or [])


def test_the_drainer_renews_its_own_token_without_the_admin(cluster: Cluster) -> None:
    # Given an issued credential
    sm = aws_client("secretsmanager")
    arn = issue(cluster)
    first = read_drainer_credential(sm, arn)
    cluster.kube.clear_requests()
    # When it is renewed (as the canary does) with its own token
    renewed = renew_drainer_credential(sm, first, retries=RETRIES)
    # Then one request was made, the TokenRequest, with the drainer's token (the proxy swaps only the admin's)
    ((request,),) = [cluster.kube.requests]
    assert request.path == f"/api/v1/namespaces/{KUBE_SYSTEM}/serviceaccounts/{DRAINER_ACCOUNT.name}/token"
    assert request.status == 201
    # And the secret holds the new token, which works, and still only the Spot handler's role may read it
    policy = json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"])
    assert policy["Statement"][0]["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [cluster.spot_role_arn]}}
    stored = read_drainer_credential(sm, arn)
    assert stored.token == renewed.token and stored.token != first.token
    assert status_of(lambda: drainer_typed(arn).list_node(limit=1)) == 200


def test_a_rerun_converges_and_revoking_the_account_refuses_its_tokens(cluster: Cluster) -> None:
    # Given an issued credential, issued again (a retried step)
    arn = issue(cluster)
    old_token = read_drainer_credential(aws_client("secretsmanager"), arn).token
    cluster.kube.clear_requests()
    assert issue(cluster) == arn
    new_token = read_drainer_credential(aws_client("secretsmanager"), arn).token
    # Then the rerun wrote no object, a new token only
    writes = [(r.method, r.path) for r in cluster.writes()]
    assert writes == [("POST", f"/api/v1/namespaces/{KUBE_SYSTEM}/serviceaccounts/{DRAINER_ACCOUNT.name}/token")]
    assert old_token and new_token and old_token != new_token
    # When the drainer ServiceAccount is deleted (revoked) and the server has taken notice
    cluster.kube.store.delete("v1/serviceaccounts", KUBE_SYSTEM, DRAINER_ACCOUNT.name)
    for token in (old_token, new_token):
        wait_until_refused(cluster.kube, cluster.admin, token)
    # Then a client built from the credential is refused (401)
    assert status_of(lambda: drainer_typed(arn).list_node(limit=1)) == 401


def test_an_expired_credential_is_refused_before_any_request_naming_the_cluster(cluster: Cluster) -> None:
    # Given a credential whose expiry has passed
    credential = read_drainer_credential(aws_client("secretsmanager"), issue(cluster))
    later = (credential.expires_at or datetime.now(UTC)) + timedelta(seconds=1)
    cluster.kube.clear_requests()
    # When the handler would build its client, Then it is a clear ClusterAccessError and nothing was sent
    with pytest.raises(ClusterAccessError, match=f"cluster {cluster.name}: the drainer credential's token expired"):
        drainer_api_client(credential, None, retries=RETRIES, now=later)
    assert cluster.kube.requests == []


def test_authenticator_mode_stores_no_token_and_removes_an_earlier_drainer_account(make_cluster: MakeCluster) -> None:
    # Given a cluster with the authenticator, its identities mapped, and a drainer account left from an
    # onboarding in service-account mode
    cluster = make_cluster("kops=1.21", nodes=1, kube="real")
    map_identity(cluster)
    issue(cluster, "service-account")
    # When the credential is issued in authenticator mode
    sm = aws_client("secretsmanager")
    arn = issue(cluster, "authenticator")
    # Then it holds the server and the mode, no token, and the old account (and its token) are gone
    stored = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["mode"] == "authenticator" and stored["token"] is None and stored["expires_at"] is None
    assert cluster.find("v1/serviceaccounts", KUBE_SYSTEM, DRAINER_ACCOUNT.name) is None
    assert cluster.find("rbac.authorization.k8s.io/v1/clusterrolebindings", None, DRAINER_ACCOUNT.name) is None
    # And the Spot role is mapped to the drainer group by MapIdentity (the vendor user's code path)
    entries = cluster.configmap("aws-auth")["data"]["mapRoles"]
    assert cluster.spot_role_arn in entries and SPOT_DRAINER_GROUP in entries


def test_without_the_spot_role_configured_nothing_is_written(cluster: Cluster) -> None:
    cluster.kube.clear_requests()
    with pytest.raises(InvalidSettings, match="SPOT_HANDLER_ROLE_ARN"):
        issue(cluster, spot_role_arn=None)
    assert cluster.writes() == []


def test_request_token_for_the_drainer_needs_its_renewal_role(cluster: Cluster) -> None:
    # Given the drainer's token, and its renewal Role removed
    credential = read_drainer_credential(aws_client("secretsmanager"), issue(cluster))
    cluster.kube.store.delete(
        "rbac.authorization.k8s.io/v1/rolebindings", KUBE_SYSTEM, DRAINER_ACCOUNT.renewal_role_name
    )
    # When it asks for a token of itself, Then it is refused: renewal rests on that Role alone
    with drainer_api_client(credential, None, retries=RETRIES) as api, pytest.raises(ClusterAccessError):
        request_token(KubeRest(api), DRAINER_ACCOUNT, expiration_seconds=600)
