"""Onboarding with a kubeconfig secret we refuse, or whose admin client certificate is short-lived, long-lived or
expired: the typed error before anything is written, or the expiry in the execution output, the CLI's summary
and `kops-onboard status`."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.cli import app
from kops_onboard.executions import run_execution
from tests.e2e.secret_scan import CLI_OUTPUTS
from tests.kubeconfigs import as_text, with_client_certificate, with_field
from tests.rollback.account_state import assert_same, system_state

# Stays in the secret: the suite's secret scan must find it nowhere (it reads exec env values too).
EXEC_SECRET = "exec-env-secret-9d2c4e6f8a0b"


@pytest.fixture(autouse=True)
def aws_environment(local_system: LocalSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user sets to point the CLI at `kops-onboard local up`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_system.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", local_system.region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    CLI_OUTPUTS.append(result.output)
    return result


def entered(system: LocalSystem, execution_arn: str) -> list[str]:
    history = system.aws.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    return [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]


def change_kubeconfig(
    system: LocalSystem, cluster: LocalCluster, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    secrets: Any = system.aws.client("secretsmanager")
    document = yaml.safe_load(secrets.get_secret_value(SecretId=cluster.kubeconfig_secret_arn)["SecretString"])
    secrets.put_secret_value(SecretId=cluster.kubeconfig_secret_arn, SecretString=as_text(change(document)))


def status_row(cluster: LocalCluster) -> dict[str, Any]:
    result = cli("status", cluster.name, "-o", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["clusters"]
    return dict(row)


def test_a_kubeconfig_that_runs_a_command_fails_at_the_first_step_and_writes_nothing(
    local_system: LocalSystem, tmp_path: Path
) -> None:
    # Given a cluster whose kubeconfig secret has an exec plugin (it would create a file) with a secret in its env
    cluster = local_system.add_cluster(ClusterSpec.parse("unsafe-exec.k8s.local:kops=1.21,nodes=1"))
    marker = tmp_path / "exec-ran"
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "sh",
        "args": ["-c", f"touch {marker}"],
        "env": [{"name": "KUBE_TOKEN", "value": EXEC_SECRET}],
    }
    change_kubeconfig(local_system, cluster, lambda document: with_field(document, "users", "exec", plugin))
    before = system_state(local_system)
    cluster.api_server.clear_requests()
    # When it is onboarded
    sfn = local_system.aws.client("stepfunctions")
    result = run_execution(sfn, local_system.state_machines["onboard"], cluster.onboard_input(), name_prefix="unsafe")
    # Then it fails with UnsafeKubeconfig naming the field and the user, at the first step that reads the secret
    # (RecordBaseline, before ValidateCluster), and nothing ran, reached the API server or stayed behind
    assert result.status == "FAILED" and result.error == "UnsafeKubeconfig", (result.error, result.cause)
    assert "sets exec" in str(result.cause) and f"kops-onboard@{cluster.name}" in str(result.cause)
    assert EXEC_SECRET not in str(result.cause)
    steps = entered(local_system, result.execution_arn)
    assert "RecordBaseline" in steps and "ValidateCluster" not in steps and "CreateIamEntities" not in steps
    assert not marker.exists()
    assert cluster.api_server.requests == []
    assert_same(before, system_state(local_system))
    # And the CLI explains the fix
    shown = cli("onboard", cluster.name)
    assert shown.exit_code == 1 and "UnsafeKubeconfig" in shown.output and "certificate-authority-data" in shown.output


def test_an_expired_admin_certificate_fails_with_kubeconfig_expired_and_writes_nothing(
    local_system: LocalSystem,
) -> None:
    # Given a cluster whose kubeconfig's client certificate expired an hour ago
    cluster = local_system.add_cluster(ClusterSpec.parse("expired-cert.k8s.local:kops=1.21,nodes=1"))
    expired = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    change_kubeconfig(local_system, cluster, lambda document: with_client_certificate(document, not_after=expired))
    before = system_state(local_system)
    cluster.api_server.clear_requests()
    # When it is onboarded through the CLI
    result = cli("onboard", cluster.name, "-o", "json")
    # Then the execution fails with KubeconfigExpired giving the expiry, the hint says how to get a fresh one
    document = json.loads(result.output)
    assert result.exit_code == 1 and document["error"] == "KubeconfigExpired", result.output
    assert expired.isoformat() in document["cause"] and "kops export kubecfg --admin" in document["hint"]
    # At the first step that builds a client, before the server is asked anything
    steps = entered(local_system, document["execution_arn"])
    assert "RecordBaseline" in steps and "ValidateCluster" not in steps
    assert cluster.api_server.requests == []
    # And nothing was written
    assert_same(before, system_state(local_system))


def test_a_short_lived_admin_certificate_warns_in_the_output_the_summary_and_status(
    local_system: LocalSystem,
) -> None:
    # Given a kubeconfig with a client certificate valid 6 more hours (its token authenticates)
    cluster = local_system.add_cluster(ClusterSpec.parse("short-cert.k8s.local:kops=1.21,nodes=1"))
    not_after = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    change_kubeconfig(local_system, cluster, lambda document: with_client_certificate(document, not_after=not_after))
    # When it is onboarded through the CLI
    result = cli("onboard", cluster.name)
    # Then onboarding succeeds, and its summary warns that offboarding will need a fresh kubeconfig
    assert result.exit_code == 0, result.output
    assert f"warning: the kubeconfig secret's client certificate expires at {not_after.isoformat()}" in result.output
    assert "offboarding will need a fresh admin kubeconfig" in result.output
    # And the execution's output holds the expiry and the warning
    execution_arn = result.output.splitlines()[0].split(": ", 1)[1]
    described = local_system.aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    admin = json.loads(described["output"])["cluster"]["admin_kubeconfig"]
    assert admin["credential"] == "client-certificate"
    assert datetime.fromisoformat(admin["expires_at"]) == not_after
    assert "offboarding will need a fresh" in admin["warning"]
    # And the registry item records the credential and its expiry (the warning is the execution's)
    item = local_system.aws.client("dynamodb").get_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{cluster.name}"}},
    )["Item"]["admin_kubeconfig"]["M"]
    assert set(item) == {"credential", "expires_at"} and item["credential"] == {"S": "client-certificate"}
    assert datetime.fromisoformat(item["expires_at"]["S"]) == not_after
    # And status shows when it expires
    assert status_row(cluster)["admin_kubeconfig"] == f"expires {not_after.isoformat(timespec='minutes')}"
    table = cli("status")
    assert f"expires {not_after.isoformat(timespec='minutes')}" in table.output and "ADMIN_KUBECONFIG" in table.output


def test_a_long_lived_admin_certificate_gives_its_expiry_without_a_warning_and_status_tells_once_it_has_passed(
    local_system: LocalSystem,
) -> None:
    # Given a kubeconfig with a client certificate valid a year
    cluster = local_system.add_cluster(ClusterSpec.parse("long-cert.k8s.local:kops=1.21,nodes=1"))
    not_after = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
    change_kubeconfig(local_system, cluster, lambda document: with_client_certificate(document, not_after=not_after))
    # When it is onboarded
    result = cli("onboard", cluster.name, "-o", "json")
    # Then no warning, and the expiry is in the summary and in status
    document = json.loads(result.output)
    assert result.exit_code == 0 and document["warnings"] == [], result.output
    assert datetime.fromisoformat(document["admin_kubeconfig_expires_at"]) == not_after
    assert status_row(cluster)["admin_kubeconfig"] == f"expires {not_after.isoformat(timespec='minutes')}"
    # And once the recorded expiry lies in the past, status says the certificate has expired
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    local_system.aws.client("dynamodb").update_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{cluster.name}"}},
        UpdateExpression="SET admin_kubeconfig.expires_at = :past",
        ExpressionAttributeValues={":past": {"S": past.isoformat()}},
    )
    assert status_row(cluster)["admin_kubeconfig"] == f"expired {past.isoformat(timespec='minutes')}"


def test_a_token_kubeconfig_has_no_expiry_known(local_system: LocalSystem) -> None:
    # Given a cluster seeded as usual (its admin is a bearer token)
    cluster = local_system.add_cluster(ClusterSpec.parse("token-admin.k8s.local:kops=1.21,nodes=1"))
    # When it is onboarded
    result = cli("onboard", cluster.name, "-o", "json")
    # Then neither the summary nor status claim an expiry, and nothing warns
    document = json.loads(result.output)
    assert result.exit_code == 0 and document["warnings"] == [], result.output
    assert document["admin_kubeconfig_expires_at"] == "no expiry known"
    assert status_row(cluster)["admin_kubeconfig"] == "no expiry known"
