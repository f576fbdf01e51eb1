"""The Spot canary as deployed: its schedule fired like EventBridge would, the real function running as the
Spot handler's role, onboarded clusters on the real control plane. Each test breaks (or not) the drainer
identity of a cluster of its own, then reads what the canary recorded, logged and published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml
from boto3.dynamodb.types import TypeDeserializer
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_lambda.adapters.aws import sts_endpoint
from kops_lambda.constants import AWS_AUTH_CONFIGMAP, KUBE_SYSTEM, SPOT_DRAINER_SERVICE_ACCOUNT, drainer_secret_name
from kops_lambda.logic.cluster.drainer import DRAINER_ACCOUNT
from kops_lambda.logic.cluster.rbac import SPOT_DRAINER_ROLE
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import request_token
from kops_local.system import LocalCluster, LocalSystem, bearer_configuration
from kops_onboard.cli import app
from tests.e2e import spot_support as support
from tests.e2e.secret_scan import CLI_OUTPUTS
from tests.revocation import wait_until_refused

CLUSTER = "kops=1.21,nodes=1,pods=2,spot=1"


def onboard(system: LocalSystem, name: str, *, identity_mode: str = "service-account") -> LocalCluster:
    """An onboarded cluster whose drainer is, by default, a ServiceAccount with a stored token."""
    return support.onboard(system, f"{name}:{CLUSTER}", name_prefix="canary", identity_mode=identity_mode)


def fire_canary(system: LocalSystem) -> dict[str, dict[str, Any]]:
    """Run the canary's schedule now; every onboarded cluster's recorded result, by cluster name."""
    assert system.stack is not None
    (rule,) = (
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Events::Rule" and logical_id.startswith("SpotCanary")
    )
    system.aws.fire_scheduled_rule(rule)
    system.aws.drain_event_sources(timeout=120)
    return canary_records(system)


def canary_records(system: LocalSystem) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = system.aws.client("dynamodb").scan(TableName=system.output("RegistryTableName"))["Items"]
    plain = [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]
    return {str(item["cluster_name"]): item["canary"] for item in plain if "canary" in item}


def emf_values(system: LocalSystem, metric: str, cluster: str | None = None) -> list[float]:
    """Every value of one metric the canary published (for one cluster's dimension, if given)."""
    values: list[float] = []
    for line in system.aws.captured_logs:
        if f'"{metric}"' not in line or '"_aws"' not in line:
            continue
        blob = json.loads(line[line.index("{") :])
        if cluster is not None and blob.get("cluster") != cluster:
            continue
        value = blob.get(metric)
        if value is not None:
            values.extend(value if isinstance(value, list) else [value])
    return values


def drainer_secret(system: LocalSystem, cluster: LocalCluster) -> dict[str, Any]:
    sm = system.aws.client("secretsmanager")
    value: dict[str, Any] = json.loads(sm.get_secret_value(SecretId=drainer_secret_name(cluster.name))["SecretString"])
    return value


def put_drainer_secret(system: LocalSystem, cluster: LocalCluster, value: dict[str, Any]) -> None:
    sm = system.aws.client("secretsmanager")
    sm.put_secret_value(SecretId=drainer_secret_name(cluster.name), SecretString=json.dumps(value))


def status_as(cluster: LocalCluster, token: str) -> int:
    """What the API server answers `token` for listing nodes (200, 401, 403)."""
    configuration = bearer_configuration(cluster.api_server.url, token, cluster.api_server.ca_certificate)
    try:
        with k8s.ApiClient(configuration) as api:
            k8s.CoreV1Api(api).list_node(limit=1)
    except ApiException as exc:
        return int(exc.status)
    return 200


@pytest.fixture(scope="module")
def healthy(local_system: LocalSystem) -> LocalCluster:
    """A cluster nobody breaks: every run must find it ok, whatever the others' state."""
    return onboard(local_system, "canary-healthy.k8s.local")


def test_a_healthy_cluster_passes_and_status_shows_it(local_system: LocalSystem, healthy: LocalCluster) -> None:
    # Given an onboarded cluster whose drainer is a ServiceAccount with a fresh token
    before = drainer_secret(local_system, healthy)
    # When the canary's schedule fires
    record = fire_canary(local_system)[healthy.name]
    # Then it may do everything the drain needs, nothing was renewed, and the metric says 0
    assert (record["ok"], record["reason"], record["mode"], record["renewed"]) == (True, "ok", "service-account", False)
    for permission in ("get nodes", "list nodes", "patch nodes", "list pods", "create pods/eviction", "create events"):
        assert permission in record["detail"]
    assert drainer_secret(local_system, healthy)["token"] == before["token"]
    assert emf_values(local_system, "CanaryFailed", healthy.name)[-1] == 0
    # And `kops-onboard status` shows the last result
    output = CliRunner().invoke(app, ["status", healthy.name, "-o", "json"], env=_cli_env(local_system)).output
    CLI_OUTPUTS.append(output)
    (row,) = json.loads(output)["clusters"]
    assert row["canary"]["ok"] is True and row["canary"]["checked_at"] == record["checked_at"]
    table = CliRunner().invoke(app, ["status", healthy.name], env=_cli_env(local_system)).output
    CLI_OUTPUTS.append(table)
    assert f"ok at {record['checked_at']}" in table


def test_a_deleted_service_account_fails_with_401_and_the_alarm_would_fire(
    local_system: LocalSystem, healthy: LocalCluster, template_json: dict[str, Any]
) -> None:
    # Given a cluster whose drainer ServiceAccount was deleted (its tokens die with it)
    revoked = onboard(local_system, "canary-revoked.k8s.local")
    token = drainer_secret(local_system, revoked)["token"]
    with revoked.api_client() as api:
        k8s.CoreV1Api(api).delete_namespaced_service_account(SPOT_DRAINER_SERVICE_ACCOUNT, KUBE_SYSTEM)
        wait_until_refused(revoked.api_server, api, token)
    # When the canary runs
    records = fire_canary(local_system)
    # Then that cluster failed, saying why, and the other one still passed in the same run
    failed = records[revoked.name]
    assert (failed["ok"], failed["reason"], failed["mode"]) == (False, "unauthorized", "service-account")
    assert "401" in failed["detail"]
    assert records[healthy.name]["ok"] is True
    assert emf_values(local_system, "CanaryFailed", revoked.name)[-1] == 1
    broken = [line for line in local_system.aws.captured_logs if "the Spot drain path is broken" in line]
    assert any(revoked.name in line and '"reason":"unauthorized"' in line.replace(" ", "") for line in broken)
    # And the alarm's metric, as the template defines the alarm, crosses its threshold
    (alarm,) = (
        r["Properties"]
        for r in template_json["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "CanaryFailedClusters"
    )
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert emf_values(local_system, "CanaryFailedClusters")[-1] >= alarm["Threshold"] == 1


def test_a_permission_taken_from_the_drainer_is_named(local_system: LocalSystem) -> None:
    # Given a cluster whose drainer ClusterRole lost `patch` on nodes (the cordon)
    cluster = onboard(local_system, "canary-rbac.k8s.local")
    with cluster.api_client() as api:
        rbac = k8s.RbacAuthorizationV1Api(api)
        role = rbac.read_cluster_role(SPOT_DRAINER_ROLE)
        for rule in role.rules:
            if rule.resources == ["nodes"]:
                rule.verbs = [verb for verb in rule.verbs if verb != "patch"]
        rbac.replace_cluster_role(SPOT_DRAINER_ROLE, role)
    # When the canary runs
    record = fire_canary(local_system)[cluster.name]
    # Then it fails with 403 naming exactly that permission
    assert (record["ok"], record["reason"]) == (False, "forbidden")
    assert record["detail"] == "403: the drainer may not patch nodes"


def test_a_token_near_its_expiry_is_renewed_and_both_tokens_work(local_system: LocalSystem) -> None:
    # Given a drainer credential whose token has less than half of its 24 h left (10 minutes)
    cluster = onboard(local_system, "canary-renew.k8s.local")
    with cluster.kube_client() as api:
        short = request_token(KubeRest(api), DRAINER_ACCOUNT, expiration_seconds=600)
    stored = drainer_secret(local_system, cluster)
    assert short.expires_at is not None
    put_drainer_secret(
        local_system, cluster, {**stored, "token": short.token, "expires_at": short.expires_at.isoformat()}
    )
    # When the canary runs
    record = fire_canary(local_system)[cluster.name]
    # Then it renewed the token with the drainer's own identity and stored it as a new version
    renewed = drainer_secret(local_system, cluster)
    assert (record["ok"], record["renewed"]) == (True, True)
    assert renewed["token"] != short.token
    expires = datetime.fromisoformat(renewed["expires_at"])
    assert expires > datetime.now(UTC) + timedelta(hours=23)
    assert record["token_expires_at"] == expires.astimezone(UTC).isoformat(timespec="seconds")
    # And the new token works, and the old one still does until it expires
    assert status_as(cluster, renewed["token"]) == 200
    assert status_as(cluster, short.token) == 200
    # And the next run finds nothing to renew
    again = fire_canary(local_system)[cluster.name]
    assert (again["ok"], again["renewed"]) == (True, False)
    assert drainer_secret(local_system, cluster)["token"] == renewed["token"]


def test_an_expired_token_is_reported_as_expired(local_system: LocalSystem) -> None:
    # Given a drainer credential whose token expired a minute ago (and was not renewed in time)
    cluster = onboard(local_system, "canary-expired.k8s.local")
    stored = drainer_secret(local_system, cluster)
    expired_at = datetime.now(UTC) - timedelta(minutes=1)
    put_drainer_secret(local_system, cluster, {**stored, "expires_at": expired_at.isoformat()})
    # When the canary runs
    record = fire_canary(local_system)[cluster.name]
    # Then it says so, and does not try to renew with a dead token
    assert (record["ok"], record["reason"], record["renewed"]) == (False, "expired", False)
    assert expired_at.isoformat(timespec="seconds") in record["detail"]
    assert drainer_secret(local_system, cluster)["token"] == stored["token"]


def test_a_cluster_without_its_credential_is_reported(local_system: LocalSystem) -> None:
    # Given a cluster whose drainer credential was deleted
    cluster = onboard(local_system, "canary-nocred.k8s.local")
    local_system.aws.client("secretsmanager").delete_secret(
        SecretId=drainer_secret_name(cluster.name), ForceDeleteWithoutRecovery=True
    )
    # When the canary runs, then that cluster has no credential, named as such
    record = fire_canary(local_system)[cluster.name]
    assert (record["ok"], record["reason"]) == (False, "no-credential")
    assert drainer_secret_name(cluster.name) in record["detail"]


def _cli_env(system: LocalSystem) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": system.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": system.region,
    }


def test_a_credential_naming_another_cluster_is_refused(local_system: LocalSystem, healthy: LocalCluster) -> None:
    # Given a cluster whose drainer secret holds a credential for another cluster (renewal would write there)
    cluster = onboard(local_system, "canary-swapped.k8s.local")
    put_drainer_secret(local_system, cluster, {**drainer_secret(local_system, cluster), "cluster_id": healthy.name})
    # When the canary runs, then that credential is not used, and the other cluster's secret is untouched
    before = drainer_secret(local_system, healthy)
    record = fire_canary(local_system)[cluster.name]
    assert (record["ok"], record["reason"]) == (False, "no-credential")
    assert record["detail"] == f"the drainer credential names cluster {healthy.name}"
    assert drainer_secret(local_system, healthy) == before


def test_an_api_server_answering_503_is_reported_unreachable(local_system: LocalSystem) -> None:
    # Given a cluster whose API server answers the next SelfSubjectAccessReview with 503
    cluster = onboard(local_system, "canary-down.k8s.local")
    cluster.api_server.inject_fault(method="POST", path_pattern="selfsubjectaccessreviews$", status=503)
    # When the canary runs, then it says the server is not answering, with its status
    record = fire_canary(local_system)[cluster.name]
    assert (record["ok"], record["reason"]) == (False, "unreachable")
    assert record["detail"] == "the API server answered 503"


def _canary_role_arn(system: LocalSystem) -> str:
    assert system.stack is not None
    (function,) = (
        system.stack.refs[logical_id]
        for logical_id, kind in system.stack.types.items()
        if kind == "AWS::Lambda::Function" and logical_id.startswith("SpotCanary")
    )
    return str(system.aws.client("lambda").get_function_configuration(FunctionName=function)["Role"])


def _token_of_role(system: LocalSystem, role_arn: str, cluster: LocalCluster) -> str:
    """An aws-iam-authenticator token for a session of `role_arn`, as a function running as it mints one."""
    credentials = system.aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="canary-test")["Credentials"]
    factory: Any = boto3.client
    sts = factory(
        "sts",
        region_name=system.region,
        endpoint_url=sts_endpoint(system.region),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return authenticator_token(sts, cluster.name)


def test_authenticator_mode_is_the_spot_handlers_role_and_fails_once_its_mapping_is_removed(
    local_system: LocalSystem,
) -> None:
    # Given a cluster whose drainer is the Spot handler's role, mapped in aws-auth by MapIdentity
    cluster = onboard(local_system, "canary-iam.k8s.local", identity_mode="authenticator")
    role_arn = _canary_role_arn(local_system)
    # When the canary runs (as that role: the same role as the Spot handler)
    record = fire_canary(local_system)[cluster.name]
    # Then the real authenticator mapped its token to the drainer's group and every permission is there
    assert (record["ok"], record["mode"], record["renewed"]) == (True, "authenticator", False)
    assert "create pods/eviction" in record["detail"]
    # When the role's mapping is removed from aws-auth and the authenticator has taken notice
    token = _token_of_role(local_system, role_arn, cluster)
    with cluster.api_client() as api:
        core = k8s.CoreV1Api(api)
        config_map = core.read_namespaced_config_map(AWS_AUTH_CONFIGMAP, KUBE_SYSTEM)
        roles = yaml.safe_load(config_map.data["mapRoles"])
        kept = [entry for entry in roles if entry["rolearn"] != role_arn]
        assert len(kept) == len(roles) - 1
        config_map.data["mapRoles"] = yaml.safe_dump(kept)
        core.replace_namespaced_config_map(AWS_AUTH_CONFIGMAP, KUBE_SYSTEM, config_map)
        wait_until_refused(cluster.api_server, api, token)
    # Then the canary fails with 401
    record = fire_canary(local_system)[cluster.name]
    assert (record["ok"], record["reason"], record["mode"]) == (False, "unauthorized", "authenticator")
    assert emf_values(local_system, "CanaryFailed", cluster.name)[-1] == 1
