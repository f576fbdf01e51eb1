"""The access-key rotation in the synthesized template: absent by default (no function, role, schedule or
alarm); with accessKeyRotationDays a daily schedule runs its function, whose role is its own and is a reader of
the access-key secrets, with its alarm; a bad value fails the synth naming its context key."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from kops_lambda.constants import (
    ENV_ACCESS_KEY_ROTATION_DAYS,
    ENV_ACCESS_KEY_ROTATION_TOPIC_ARN,
    ENV_SECRET_READER_ARNS,
)
from kops_lambda.errors import InvalidSettings
from stacks.access_key_rotation import CONTEXT_KEYS, rotation_settings
from tests.rotation.support import ROTATION_DAYS, ROTATION_HANDLER, TOPIC_ARN, rotation_template

KEY = "arn:aws:kms:us-east-1:123456789012:key/0f0f0f0f-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def with_rotation() -> dict[str, Any]:
    # cdk-nag runs in the synth: an unacknowledged finding raises here
    loaded: dict[str, Any] = json.loads(rotation_template().read_text())
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _rotation_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    functions = _of_type(template, "AWS::Lambda::Function")
    return {name: f for name, f in functions.items() if f["Properties"].get("Handler") == ROTATION_HANDLER}


def _handler_environment(template: dict[str, Any], handler: str) -> dict[str, Any]:
    (function,) = [
        f for f in _of_type(template, "AWS::Lambda::Function").values() if f["Properties"].get("Handler") == handler
    ]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_by_default_there_is_no_rotation(template_json: dict[str, Any]) -> None:
    # Given the app synthesized without accessKeyRotationDays, then nothing of the rotation is in it
    assert _rotation_functions(template_json) == {}
    assert [name for name in template_json["Resources"] if "AccessKeyRotation" in name] == []
    schedules = [
        r for r in _of_type(template_json, "AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]
    ]
    # The Spot canary's and the drift check's
    assert sorted(r["Properties"]["ScheduleExpression"] for r in schedules) == ["rate(1 hour)", "rate(15 minutes)"]
    # And the access-key secrets' readers are the step's own role only
    readers = _handler_environment(template_json, "kops_lambda.handlers.store_access_key.handler")
    assert "AccessKeyRotation" not in json.dumps(readers[ENV_SECRET_READER_ARNS])


def test_with_the_setting_a_daily_schedule_runs_the_rotation(with_rotation: dict[str, Any]) -> None:
    ((name, function),) = _rotation_functions(with_rotation).items()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables[ENV_ACCESS_KEY_ROTATION_DAYS] == str(ROTATION_DAYS)
    assert variables[ENV_ACCESS_KEY_ROTATION_TOPIC_ARN] == TOPIC_ARN
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1
    (rule,) = [
        r
        for r in _of_type(with_rotation, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [name, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 day)"
    # Its role is its own, and a reader of the access-key secrets onboarding writes
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    others = [f for n, f in _of_type(with_rotation, "AWS::Lambda::Function").items() if n != name]
    assert all(f["Properties"]["Role"] != {"Fn::GetAtt": [role, "Arn"]} for f in others)
    readers = _handler_environment(with_rotation, "kops_lambda.handlers.store_access_key.handler")
    assert {"Fn::GetAtt": [role, "Arn"]} in readers[ENV_SECRET_READER_ARNS]["Fn::Join"][1]


def test_a_failed_rotation_raises_an_alarm(with_rotation: dict[str, Any]) -> None:
    (alarm,) = [
        a["Properties"]
        for a in _of_type(with_rotation, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "AccessKeyRotationsFailed"
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        "Maximum",
    )
    assert alarm["Period"] == 86400 and alarm["AlarmActions"]


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"accessKeyRotationDays": "0"}, "accessKeyRotationDays"),
        ({"accessKeyRotationDays": "ninety"}, "accessKeyRotationDays"),
        ({"accessKeyRotationDays": "1.5"}, "accessKeyRotationDays"),
        ({"accessKeyRotationDays": "90", "accessKeyRotationTopicArn": "alerts"}, "accessKeyRotationTopicArn"),
        ({"accessKeyRotationDays": "90", "accessKeyRotationTopicKeyArn": KEY}, "accessKeyRotationTopicKeyArn"),
        ({"accessKeyRotationTopicArn": TOPIC_ARN}, "accessKeyRotationTopicArn"),
    ],
)
def test_a_bad_value_fails_the_synth_naming_its_key(context: dict[str, str], key: str) -> None:
    with pytest.raises(InvalidSettings, match=key):
        rotation_settings(Stack(App(context=context), "S"))


def test_days_from_the_cli_and_from_cdk_json_are_the_same() -> None:
    from_cli = rotation_settings(Stack(App(context={"accessKeyRotationDays": "90"}), "S"))
    from_json = rotation_settings(Stack(App(context={"accessKeyRotationDays": 90}), "S"))
    assert from_cli is not None and from_cli == from_json and from_cli.days == 90


def test_every_rotation_key_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [key for key in CONTEXT_KEYS.values() if f"| `{key}` |" not in readme] == []
