"""The drift check in the synthesized template: its schedule (driftCheckMinutes, default 60), its own role
(reads only, but the registry's `drift` attribute), the secrets' readers it compares the resource policies with,
and its alarms on the per-run counts."""

from typing import Any

import pytest
from aws_cdk import App, Stack

from kops_lambda.constants import drift_secret_readers_env
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.drift import SECRET_NAMES
from kops_lambda.logic.registry import DRIFT_ATTRIBUTE
from stacks.drift import drift_check_minutes

DRIFT_HANDLER = "kops_lambda.handlers.drift_check.handler"
# What a read-only role may still do: its logs, and the ENIs of a function in a VPC (none by default).
NOT_READS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
READ_VERBS = ("Get", "List", "Describe", "Scan", "Decrypt")


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _drift_function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, f)
        for name, f in _of_type(template, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == DRIFT_HANDLER
    ]
    return found


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_schedule_runs_the_check_hourly_without_retries(template_json: dict[str, Any]) -> None:
    function_id, function = _drift_function(template_json)
    (rule,) = [
        r
        for r in _of_type(template_json, "AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert rule["Properties"]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_role_is_its_own_and_reads_only_but_the_drift_attribute(template_json: dict[str, Any]) -> None:
    _, function = _drift_function(template_json)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    others = [
        f["Properties"]["Role"]
        for f in _of_type(template_json, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] != DRIFT_HANDLER
    ]
    assert {"Fn::GetAtt": [role, "Arn"]} not in others
    statements = _role_statements(template_json, role)
    writes = {
        action
        for s in statements
        for action in _actions(s)
        if action not in NOT_READS and not action.split(":", 1)[1].startswith(READ_VERBS)
    }
    # The one write: the registry's drift attribute (and the key), returning nothing
    assert writes == {"dynamodb:UpdateItem"}
    (update,) = [s for s in statements if "dynamodb:UpdateItem" in _actions(s)]
    assert update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"] == ["cluster_key", DRIFT_ATTRIBUTE]
    assert update["Condition"]["StringEqualsIfExists"]["dynamodb:ReturnValues"] == "NONE"
    # Secret values: the kubeconfigs' only
    (values,) = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    assert "/kubeconfig-*" in str(values["Resource"])
    assert not [s for s in statements if "*" in _actions(s) or any(a.endswith(":*") for a in _actions(s))]


def test_every_secret_kind_names_the_readers_onboarding_gave_it(template_json: dict[str, Any]) -> None:
    _, function = _drift_function(template_json)
    variables = function["Properties"]["Environment"]["Variables"]
    for kind in SECRET_NAMES:
        assert variables.get(drift_secret_readers_env(kind)), kind


def test_the_alarms_watch_the_per_run_counts(template_json: dict[str, Any]) -> None:
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in _of_type(template_json, "AWS::CloudWatch::Alarm").values()
    }
    for metric in ("DriftedClusters", "AccessWideningClusters", "DriftCheckFailures"):
        alarm = alarms[metric]
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Statistic"] == "Maximum" and alarm["Period"] == 3600
        assert alarm["Namespace"] == "KopsOnboard" and alarm["TreatMissingData"] == "notBreaching"


def test_the_minutes_come_from_context_and_bad_values_fail_the_synth() -> None:
    assert drift_check_minutes(Stack(App(), "S")) == 60
    assert drift_check_minutes(Stack(App(context={"driftCheckMinutes": "15"}), "S")) == 15
    for bad in ("0", "1441", "often"):
        with pytest.raises(InvalidSettings, match="driftCheckMinutes"):
            drift_check_minutes(Stack(App(context={"driftCheckMinutes": bad}), "S"))
