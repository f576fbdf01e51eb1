"""The Spot handler as its own identity, end to end on the real control plane: onboarding issues the drainer
credential, a Spot warning drains with it alone (the admin kubeconfig unreadable meanwhile), a revoked
drainer token fails the event with a clear error until the DLQ, and rollback and offboarding remove what
IssueDrainerCredential made. Service-account mode (a cluster without aws-iam-authenticator, kOps' default)
and authenticator mode (the real aws-iam-authenticator as the apiserver's webhook, the handler running as
a session of its own role)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kops_lambda.constants import KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT, drainer_secret_name
from kops_local.seed import ClusterSpec, SeededInstance
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.e2e import spot_support as support
from tests.e2e.secret_scan import secret_values
from tests.revocation import wait_until_refused
from tests.rollback.account_state import assert_same, system_state


def onboard(system: LocalSystem, cluster: LocalCluster) -> ExecutionResult:
    return support.run_onboarding(system, cluster, name_prefix="dr")


def onboarded(system: LocalSystem, spec: str) -> LocalCluster:
    return support.onboard(system, spec, kube="real", name_prefix="dr")


def drainer_credential(system: LocalSystem, cluster: LocalCluster) -> dict[str, Any]:
    value = system.aws.client("secretsmanager").get_secret_value(SecretId=drainer_secret_name(cluster.name))
    credential: dict[str, Any] = json.loads(value["SecretString"])
    return credential


def drained(cluster: LocalCluster, instance: SeededInstance) -> bool:
    node = support.node(cluster, instance)
    reasons = [e["reason"] for e in support.node_events(cluster, instance)]
    return bool(node["spec"].get("unschedulable")) and "DrainComplete" in reasons


@pytest.fixture(scope="module")
def sa_cluster(local_system: LocalSystem) -> LocalCluster:
    return onboarded(local_system, "drainer-sa.k8s.local:kops=1.21,auth=none,nodes=3,pods=3,naming=id")


def test_onboarding_records_a_service_account_drainer_and_the_scan_knows_its_token(
    local_system: LocalSystem, sa_cluster: LocalCluster
) -> None:
    # Given a cluster without the authenticator, onboarded
    credential = drainer_credential(local_system, sa_cluster)
    # Then its drainer is the ServiceAccount, with a token, the TLS server and its CA
    assert credential["mode"] == "service-account"
    assert credential["service_account"] == f"{KUBE_SYSTEM}/{SPOT_DRAINER_SERVICE_ACCOUNT}"
    assert credential["server"] == sa_cluster.api_server.url and credential["server"].startswith("https://")
    assert credential["ca_pem"] == sa_cluster.api_server.ca_certificate
    # And the registry names the secret for the Spot handler
    item = local_system.aws.client("dynamodb").get_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{sa_cluster.name}"}},
    )["Item"]
    drainer = item["resources"]["M"]["drainer"]["M"]
    assert f":secret:{drainer_secret_name(sa_cluster.name)}-" in drainer["secret_arn"]["S"]
    assert drainer["mode"]["S"] == "service-account"
    # And the suite-wide secret scan looks for its token (the fixture runs it over every output and log)
    assert credential["token"] in secret_values(local_system)


def test_a_warning_drains_with_the_drainer_identity_while_the_admin_kubeconfig_is_unreadable(
    local_system: LocalSystem, sa_cluster: LocalCluster
) -> None:
    # Given the cluster's admin kubeconfig secret scheduled for deletion (GetSecretValue fails on it)
    sm = local_system.aws.client("secretsmanager")
    sm.delete_secret(SecretId=sa_cluster.kubeconfig_secret_arn, RecoveryWindowInDays=7)
    spot = support.spot_workers(sa_cluster)[0]
    try:
        with pytest.raises(sm.exceptions.InvalidRequestException):
            sm.get_secret_value(SecretId=sa_cluster.kubeconfig_secret_arn)
        # When a Spot warning for one of its workers arrives
        support.put(local_system, support.entry(local_system, spot))
        local_system.aws.drain_event_sources(timeout=60)
    finally:
        sm.restore_secret(SecretId=sa_cluster.kubeconfig_secret_arn)
    # Then the node was cordoned and drained, by the handler holding the drainer credential only
    assert drained(sa_cluster, spot)
    failures = [line for line in local_system.aws.captured_logs if "not handled" in line and spot.instance_id in line]
    assert failures == []


@pytest.mark.usefixtures("short_visibility")
def test_a_revoked_drainer_fails_the_event_with_a_clear_error_and_it_waits_in_the_dlq(
    local_system: LocalSystem,
) -> None:
    # Given an onboarded cluster whose drainer ServiceAccount was deleted, and the server refusing its token
    cluster = onboarded(local_system, "drainer-revoked.k8s.local:kops=1.21,auth=none,nodes=2,pods=2,naming=id")
    token = drainer_credential(local_system, cluster)["token"]
    cluster.api_server.store.delete("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT)
    with cluster.api_client() as admin:
        wait_until_refused(cluster.api_server, admin, token)
    spot = support.spot_workers(cluster)[0]
    # When its instance's interruption warning arrives
    body = support.delivered_body(local_system, spot)
    support.send_to_queue(local_system, body)
    local_system.aws.drain_event_sources(timeout=60)
    # Then each receive failed with the clear error, and after the third the event sits in the DLQ, intact
    failures = [
        json.loads(line[line.index("{") :])
        for line in local_system.aws.captured_logs
        if "not handled" in line and spot.instance_id in line
    ]
    assert len(failures) >= 3, failures
    for failure in failures:
        assert failure["error"] == "ClusterAccessError"
        assert f"cluster {cluster.name}: the API server refused the Spot drainer credential" in failure["detail"]
    sqs = local_system.aws.client("sqs")
    dlq = local_system.output("SpotDeadLetterQueueUrl")
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    (parked,) = [m for m in messages if json.loads(m["Body"])["id"] == json.loads(body)["id"]]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked["ReceiptHandle"])
    assert not support.node(cluster, spot)["spec"].get("unschedulable")


def test_authenticator_mode_drains_as_the_handlers_own_role(local_system: LocalSystem) -> None:
    # Given a cluster whose apiserver authenticates through the real aws-iam-authenticator (EKSConfigMap)
    cluster = onboarded(local_system, "drainer-iam.k8s.local:kops=1.21,nodes=2,pods=2,naming=id")
    credential = drainer_credential(local_system, cluster)
    assert credential["mode"] == "authenticator" and credential["token"] is None
    spot = support.spot_workers(cluster)[0]
    # When a Spot warning arrives
    support.put(local_system, support.entry(local_system, spot))
    local_system.aws.drain_event_sources(timeout=60)
    # Then the handler, with a token for its own role mapped to the drainer group, drained the node
    assert drained(cluster, spot)
    assert cluster.api_server.store.get("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is None


def test_a_failing_drainer_step_leaves_everything_as_it_was(local_system: LocalSystem) -> None:
    # Given a cluster without the authenticator, and the drainer's step dying after its work
    cluster = local_system.add_cluster(
        ClusterSpec.parse("drainer-rb.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real"
    )
    before = system_state(local_system)
    local_system.aws.inject_lambda_fault(
        "IssueDrainerCredentialFunction", error_type="Sandbox.Timedout", after_handler=True
    )
    # When the onboarding runs
    result = onboard(local_system, cluster)
    # Then it fails, its rollback names the drainer's account, and nothing is left (its secret included)
    assert result.status == "FAILED" and result.error == "Sandbox.Timedout"
    assert result.cause is not None and f"ServiceAccount {KUBE_SYSTEM}/{SPOT_DRAINER_SERVICE_ACCOUNT}" in result.cause
    assert_same(before, system_state(local_system))


def test_a_later_failing_step_also_removes_the_drainer(local_system: LocalSystem) -> None:
    # Given a cluster without the authenticator, and the last credential step dying after its work
    cluster = local_system.add_cluster(
        ClusterSpec.parse("drainer-rb2.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real"
    )
    local_system.aws.inject_lambda_fault("StoreAccessKeyFunction", error_type="Sandbox.Timedout", after_handler=True)
    # When the onboarding runs
    result = onboard(local_system, cluster)
    # Then the compensation chain removed the drainer's account, its RBAC and its secret on the way down
    assert result.status == "FAILED" and result.error == "Sandbox.Timedout"
    store = cluster.api_server.store
    assert store.get("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is None
    assert store.get("rbac.authorization.k8s.io/v1/clusterrolebindings", None, SPOT_DRAINER_SERVICE_ACCOUNT) is None
    renewal = f"{SPOT_DRAINER_SERVICE_ACCOUNT}-token-renewal"
    assert store.get("rbac.authorization.k8s.io/v1/roles", KUBE_SYSTEM, renewal) is None
    sm = local_system.aws.client("secretsmanager")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=drainer_secret_name(cluster.name))


def test_offboarding_removes_the_drainer_account_and_credential(local_system: LocalSystem) -> None:
    # Given an onboarded cluster without the authenticator
    cluster = onboarded(local_system, "drainer-off.k8s.local:kops=1.21,auth=none,nodes=1")
    store = cluster.api_server.store
    assert store.get("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is not None
    # When it is offboarded
    result = run_execution(
        local_system.aws.client("stepfunctions"),
        local_system.state_machines["offboard"],
        cluster.offboard_input(secret_recovery_days=0),
        name_prefix="dr-off",
    )
    # Then the drainer's ServiceAccount, its RBAC and its secret are gone
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output is not None
    removed = result.output["drainer"]["removed"]
    assert f"ServiceAccount {KUBE_SYSTEM}/{SPOT_DRAINER_SERVICE_ACCOUNT}" in removed
    assert store.get("v1/serviceaccounts", KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT) is None
    assert store.get("rbac.authorization.k8s.io/v1/clusterrolebindings", None, SPOT_DRAINER_SERVICE_ACCOUNT) is None
    sm = local_system.aws.client("secretsmanager")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=drainer_secret_name(cluster.name))
