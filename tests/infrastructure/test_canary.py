"""The Spot canary in the synthesized template: its schedule, its identity (the Spot handler's role), its
grants (each as narrow as IAM allows) and its alarm."""

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from kops_lambda.errors import InvalidSettings
from stacks.spot import spot_settings

CANARY_HANDLER = "kops_lambda.handlers.spot_canary.handler"
SPOT_HANDLER = "kops_lambda.handlers.spot_interruption.handler"


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def _function(template_json: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    (found,) = (
        (logical_id, resource)
        for logical_id, resource in template_json["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"]["Handler"] == handler
    )
    return found


def _of_type(template_json: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template_json["Resources"].values() if r["Type"] == kind]


def test_the_schedule_runs_the_canary_every_15_minutes_without_retries(template_json: dict[str, Any]) -> None:
    canary_id, _ = _function(template_json, CANARY_HANDLER)
    (rule,) = [
        r
        for r in _of_type(template_json, "AWS::Events::Rule")
        if "ScheduleExpression" in r["Properties"]
        and r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [canary_id, "Arn"]}
    ]
    assert rule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    assert "EventPattern" not in rule["Properties"]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [canary_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_the_canary_runs_as_the_spot_handlers_role_one_run_at_a_time(template_json: dict[str, Any]) -> None:
    _, canary = _function(template_json, CANARY_HANDLER)
    _, spot = _function(template_json, SPOT_HANDLER)
    # In authenticator mode the cluster maps that role: only its token proves the handler's mapping.
    assert canary["Properties"]["Role"] == spot["Properties"]["Role"]
    assert canary["Properties"]["ReservedConcurrentExecutions"] == 1
    assert canary["Properties"]["Environment"]["Variables"]["SPOT_FORCE_DELETE"] == "false"


def test_the_canary_minutes_come_from_context_and_bad_values_fail_the_synth() -> None:
    settings = spot_settings(Stack(App(context={"spotCanaryMinutes": "5"}), "S"), dry_run=False)
    assert settings.canary_minutes == 5
    for bad in ("0", "1441", "often"):
        with pytest.raises(InvalidSettings, match="canary_minutes"):
            spot_settings(Stack(App(context={"spotCanaryMinutes": bad}), "S"), dry_run=False)


def _canary_statements(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (policy,) = [
        p
        for logical_id, p in template_json["Resources"].items()
        if p["Type"] == "AWS::IAM::Policy" and logical_id.startswith("SpotCanaryPolicy")
    ]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_the_canary_reads_and_writes_only_its_attributes_of_the_registry(template_json: dict[str, Any]) -> None:
    statements = _canary_statements(template_json)
    scan, update = statements["ListOnboardedClusters"], statements["RecordCanaryResult"]
    assert (scan["Action"], update["Action"]) == ("dynamodb:Scan", "dynamodb:UpdateItem")
    # Without Select=SPECIFIC_ATTRIBUTES a Scan names no attributes, and ForAllValues over none is true.
    assert scan["Condition"] == {
        "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
        "ForAllValues:StringEquals": {
            "dynamodb:Attributes": ["cluster_key", "cluster_name", "region", "status", "resources"]
        },
    }
    assert update["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["cluster_key", "canary"]},
        "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
    }
    registry = next(
        logical_id
        for logical_id, r in template_json["Resources"].items()
        if r["Type"] == "AWS::DynamoDB::Table" and logical_id.startswith("ClusterRegistry")
    )
    assert scan["Resource"] == update["Resource"] == {"Fn::GetAtt": [registry, "Arn"]}


def test_the_canary_may_write_only_drainer_credentials(template_json: dict[str, Any]) -> None:
    statements = _canary_statements(template_json)
    renew, encrypt = statements["RenewDrainerToken"], statements["EncryptRenewedToken"]
    assert renew["Action"] == "secretsmanager:PutSecretValue"
    assert "kops-onboard/clusters/*/spot-drainer-??????" in str(renew["Resource"])
    assert renew["Condition"] == {"StringEquals": {"secretsmanager:ResourceTag/managed-by": "kops-onboard"}}
    assert encrypt["Action"] == "kms:GenerateDataKey"
    assert "secretsmanager." in str(encrypt["Condition"]["StringEquals"]["kms:ViaService"])
    # Nothing else: no CreateSecret, no resource policy, no other table action.
    assert set(statements) == {
        "ListOnboardedClusters",
        "RecordCanaryResult",
        "RenewDrainerToken",
        "EncryptRenewedToken",
    }


def test_the_canary_alarm_fires_when_any_cluster_fails(template_json: dict[str, Any]) -> None:
    (alarm,) = [
        a["Properties"]
        for a in _of_type(template_json, "AWS::CloudWatch::Alarm")
        if a["Properties"].get("MetricName") == "CanaryFailedClusters"
    ]
    assert (alarm["Namespace"], alarm["Statistic"], alarm["Period"]) == ("KopsOnboard", "Maximum", 900)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "kops-onboard"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"]
    canary_id, _ = _function(template_json, CANARY_HANDLER)
    errors = [
        a["Properties"]
        for a in _of_type(template_json, "AWS::CloudWatch::Alarm")
        if a["Properties"].get("MetricName") == "Errors"
        and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": canary_id}}]
    ]
    assert len(errors) == 1, "a canary that cannot run at all alarms too"
