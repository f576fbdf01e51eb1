"""The kops-onboard CLI against the local system: live progress, outputs, error exit codes."""

import json
import time
from typing import Any

import pytest
from click.testing import Result
from kubernetes import client as k8s
from typer.testing import CliRunner

from kops_lambda.constants import BASELINE_KEY_PREFIX
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.cli import app
from tests.e2e import spot_support
from tests.e2e.kubeconfig import kubeconfig_secret_for
from tests.e2e.lease_support import lease_held_by_a_running_execution
from tests.e2e.secret_scan import CLI_OUTPUTS


class RecordingRunner(CliRunner):
    def invoke(self, *args: Any, **kwargs: Any) -> Result:  # type: ignore[override]
        result = super().invoke(*args, **kwargs)
        CLI_OUTPUTS.append(result.output)
        return result


runner = RecordingRunner()


@pytest.fixture(autouse=True)
def aws_environment(local_system: LocalSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user sets to point the CLI at `kops-onboard local up`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_system.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", local_system.region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("cli.k8s.local:kops=1.18,nodes=2"))


def test_onboard_with_no_flags_shows_each_step_and_the_outputs(cluster: LocalCluster) -> None:
    result = runner.invoke(app, ["onboard", cluster.name])
    assert result.exit_code == 0, result.output
    for step in (
        "ValidateCluster",
        "CreateIamEntities",
        "CreateKeyPair",
        "MapIdentity",
        "InstallAgent",
        "StoreAccessKey",
    ):
        assert f"✓ {step}" in result.output
    assert "iam_user_arn" in result.output and "cast-kops-cli.k8s.local" in result.output
    assert cluster.token not in result.output


def test_onboard_json_output_is_one_document(cluster: LocalCluster) -> None:
    result = runner.invoke(app, ["onboard", cluster.name, "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "SUCCEEDED" and document["kops_version"].startswith("1.18")


def test_invalid_cluster_name_is_a_usage_error_naming_the_field(cluster: LocalCluster) -> None:
    result = runner.invoke(app, ["onboard", "Bad_Name", "--kubeconfig-secret", cluster.kubeconfig_secret_arn])
    assert result.exit_code == 2
    assert "cluster_name" in result.output


def test_cluster_without_an_access_secret_is_not_found() -> None:
    result = runner.invoke(app, ["onboard", "nowhere.k8s.local", "--output", "json"])
    assert result.exit_code == 3
    assert "kops-onboard/clusters/nowhere.k8s.local/kubeconfig" in json.loads(result.output)["message"]


def test_failed_execution_exits_1_with_the_error_and_a_fix(local_system: LocalSystem, cluster: LocalCluster) -> None:
    secret = kubeconfig_secret_for(local_system, "ghost.k8s.local", copy_of=cluster)
    result = runner.invoke(app, ["onboard", "ghost.k8s.local", "--kubeconfig-secret", secret])
    assert result.exit_code == 1
    assert "✓ ValidateCluster" not in result.output
    assert "ClusterNotFound" in result.output and "fix:" in result.output and "--region" in result.output


def test_status_lists_the_registry(cluster: LocalCluster) -> None:
    assert runner.invoke(app, ["onboard", cluster.name]).exit_code == 0
    table = runner.invoke(app, ["status"])
    assert table.exit_code == 0 and cluster.name in table.output and "ONBOARDED" in table.output
    one = json.loads(runner.invoke(app, ["status", cluster.name, "-o", "json"]).output)
    assert [row["status"] for row in one["clusters"]] == ["ONBOARDED"]
    # and the regions the deployment's Spot rules cover: its own alone, by default
    assert one["spot_regions"] == ["us-east-1"]
    assert "Spot regions covered: us-east-1 (context spotRegions)" in table.output
    assert runner.invoke(app, ["status", "unknown.k8s.local"]).exit_code == 3


def test_status_shows_clusters_only_not_the_baseline_a_stopped_execution_left(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    # Given a rollback baseline left in the registry by an execution that was stopped before its end
    assert runner.invoke(app, ["onboard", cluster.name]).exit_code == 0
    dynamodb, table = local_system.aws.client("dynamodb"), local_system.output("RegistryTableName")
    baseline_key = {"cluster_key": {"S": f"{BASELINE_KEY_PREFIX}stopped-execution"}}
    dynamodb.put_item(TableName=table, Item={**baseline_key, "for_cluster": {"S": cluster.name}})
    try:
        # Then status lists the clusters alone
        rows = json.loads(runner.invoke(app, ["status", "-o", "json"]).output)["clusters"]
        assert rows and all(row["cluster_name"] for row in rows)
        assert cluster.name in {row["cluster_name"] for row in rows}
    finally:
        # (the local system is shared by the worker's later modules, which compare the registry with a pre-state)
        dynamodb.delete_item(TableName=table, Key=baseline_key)


def test_simulate_spot_cordons_the_node(local_system: LocalSystem, cluster: LocalCluster) -> None:
    assert runner.invoke(app, ["onboard", cluster.name]).exit_code == 0
    spot = next(i for i in cluster.aws.instances if i.lifecycle == "spot")
    result = runner.invoke(app, ["simulate-spot", spot.instance_id])
    assert result.exit_code == 0 and "event bus" in result.output
    with cluster.api_client() as api:
        core = k8s.CoreV1Api(api)
        deadline = time.monotonic() + 180  # a hang guard: the cordon's latency is a bench figure
        while time.monotonic() < deadline:
            node = next(n for n in core.list_node().items if n.spec.provider_id.endswith(spot.instance_id))
            if node.spec.unschedulable:
                break
            time.sleep(0.1)
    assert node.spec.unschedulable
    assert runner.invoke(app, ["simulate-spot", "not-an-instance"]).exit_code == 2


def test_simulate_spot_via_the_handler_drains_and_says_when_the_handler_could_not(local_system: LocalSystem) -> None:
    # Given an onboarded cluster (against AWS the Spot queue takes only the rules' messages: this is that path)
    cluster = local_system.add_cluster(ClusterSpec.parse("via.k8s.local:kops=1.21,nodes=2,spot=2"))
    assert runner.invoke(app, ["onboard", cluster.name]).exit_code == 0
    first, second = [i for i in cluster.aws.instances if i.lifecycle == "spot"]
    # When the warning is handed to the Spot handler itself, as one SQS record
    result = runner.invoke(app, ["simulate-spot", first.instance_id, "--via", "handler", "-o", "json"])
    # Then the handler ran before the command returned: the node is cordoned
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["via"] == "Spot handler"
    assert spot_support.node(cluster, first)["spec"]["unschedulable"] is True
    # And when the handler cannot reach the cluster, the command fails and says where to look
    cluster.api_server.stop()
    try:
        failed = runner.invoke(app, ["simulate-spot", second.instance_id, "--via", "handler"])
    finally:
        cluster.api_server.start()
    assert failed.exit_code == 1, failed.output
    assert "did not handle" in failed.output and "SpotHandlerFunction" in failed.output
    assert runner.invoke(app, ["offboard", cluster.name]).exit_code == 0


def test_schema_and_help_of_every_command() -> None:
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    assert {"cluster_name", "kubeconfig_secret_arn"} <= set(schema["required"])
    for command in (
        ["--help"],
        ["onboard", "--help"],
        ["plan", "--help"],
        ["status", "--help"],
        ["simulate-spot", "--help"],
        ["local", "up", "--help"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0 and "Usage" in result.output


def test_offboard_removes_the_user_and_a_second_run_is_fine(local_system: LocalSystem) -> None:
    gone = local_system.add_cluster(ClusterSpec.parse("bye.k8s.local:kops=1.21,nodes=1"))
    assert runner.invoke(app, ["onboard", gone.name]).exit_code == 0
    result = runner.invoke(app, ["offboard", gone.name, "--secret-recovery-days", "0"])
    assert result.exit_code == 0, result.output
    users = [u["UserName"] for u in local_system.aws.client("iam").list_users()["Users"]]
    assert "cast-kops-bye.k8s.local" not in users
    assert runner.invoke(app, ["offboard", gone.name, "-o", "json"]).exit_code == 0
    assert runner.invoke(app, ["offboard", "Bad_Name"]).exit_code == 2


def _reads_plainly(output: str) -> None:
    """No stack trace and no raw Lambda error document."""
    for raw in ("Traceback", "stackTrace", '"errorMessage"', 'File "'):
        assert raw not in output, output


def test_a_rolled_back_failure_shows_the_message_the_rollback_and_one_line_per_failed_step(
    local_system: LocalSystem,
) -> None:
    # Given a cluster never onboarded, and a StoreAccessKey that dies after its work
    cluster = local_system.add_cluster(ClusterSpec.parse("cli-rollback.k8s.local:kops=1.21,nodes=1"))
    local_system.aws.inject_lambda_fault(
        "StoreAccessKeyFunction", error_type="AccessKeyLimit", message="two keys already", after_handler=True
    )
    # When onboarding runs
    result = runner.invoke(app, ["onboard", cluster.name])
    # Then the message, what the rollback did and the fix read as text; the failed step is listed once
    assert result.exit_code == 1
    assert "FAILED: AccessKeyLimit: two keys already" in result.output
    assert "rollback removed:" in result.output and f"IAM user cast-kops-{cluster.name}" in result.output
    assert "fix: The user has 2 access keys" in result.output
    assert [line.split()[1] for line in result.output.splitlines() if line.strip().startswith("✗")] == [
        "StoreAccessKey"
    ]
    _reads_plainly(result.output)


def test_a_busy_cluster_fails_at_once_naming_the_running_execution(
    local_system: LocalSystem, cluster: LocalCluster
) -> None:
    with lease_held_by_a_running_execution(local_system, cluster.name) as holder:
        result = runner.invoke(app, ["onboard", cluster.name])
        offboarding = runner.invoke(app, ["offboard", cluster.name, "-o", "json"])
    assert result.exit_code == 1
    assert "ClusterBusy" in result.output and holder in result.output and "Wait until it has finished" in result.output
    assert "✓ ValidateCluster" not in result.output
    _reads_plainly(result.output)
    document = json.loads(offboarding.output)
    assert offboarding.exit_code == 1 and document["error"] == "ClusterBusy" and holder in document["cause"]
    # And once the holder has gone, the cluster can be worked on again
    assert runner.invoke(app, ["onboard", cluster.name]).exit_code == 0


def test_offboarding_an_unknown_cluster_points_at_the_registry() -> None:
    result = runner.invoke(app, ["offboard", "never-onboarded.k8s.local"])
    assert result.exit_code == 1
    assert "ClusterNotFound" in result.output and "not in the registry" in result.output
    assert "kops-onboard status" in result.output and "KubernetesCluster" not in result.output
    _reads_plainly(result.output)


def test_simulate_spot_for_an_instance_not_in_the_account_is_a_usage_error() -> None:
    result = runner.invoke(app, ["simulate-spot", "i-0123456789abcdef0"])
    assert result.exit_code == 2
    assert "i-0123456789abcdef0 is not in account" in result.output


def test_plan_shows_per_resource_actions_as_text_and_json(local_system: LocalSystem) -> None:
    # Given a fresh cluster
    fresh = local_system.add_cluster(ClusterSpec.parse("cli-plan.k8s.local:kops=1.21,nodes=1"))
    # When it is planned, as text and as JSON
    text = runner.invoke(app, ["plan", fresh.name])
    as_json = runner.invoke(app, ["plan", fresh.name, "--output", "json"])
    # Then the text names the plan step, counts the actions and shows one line per resource
    assert text.exit_code == 0, text.output
    assert f"planning {fresh.name}" in text.output and "✓ PlanOnboarding" in text.output
    assert f"plan for {fresh.name} (us-east-1, kOps 1.21" in text.output
    assert f"  + iam-user           cast-kops-{fresh.name}" in text.output
    assert "  + secret             kops-onboard/clusters/cli-plan.k8s.local/access-key" in text.output
    assert "document: --show-documents" in text.output
    assert "  + Deployment         castai-agent/castai-agent" in text.output
    assert "not covered by this plan: the agent Secret's data" in text.output
    # And the JSON is one document with every resource, the documents in full
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["status"] == "SUCCEEDED" and document["cluster_name"] == fresh.name
    user = next(r for r in document["resources"] if r["kind"] == "iam-user")
    assert user["action"] == "create"
    shared = next(r for r in document["resources"] if r["name"] == "CASTKopsPolicyV2")
    assert shared["action"] in {"create", "unchanged"}
    policies = [r for r in document["resources"] if r["kind"] == "iam-policy" and r["action"] == "create"]
    assert policies and all(r["document"]["Version"] == "2012-10-17" for r in policies)
    # And nothing was made
    assert runner.invoke(app, ["status", fresh.name]).exit_code == 3
    assert fresh.token not in text.output + as_json.output


def test_plan_of_an_unsupported_kops_version_exits_1_with_the_onboarding_error(local_system: LocalSystem) -> None:
    old = local_system.add_cluster(ClusterSpec.parse("cli-plan-old.k8s.local:kops=1.16,nodes=1"))
    result = runner.invoke(app, ["plan", old.name, "--output", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "UnsupportedKopsVersion"
