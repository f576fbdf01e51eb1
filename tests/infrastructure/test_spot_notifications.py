"""The Spot notification settings in the synthesized template: off by default; with them, the handler's
environment and exactly the grants they need (publish to that topic, its key through SNS, read that secret),
cdk-nag clean; a bad value fails the synth naming its context key."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from kops_lambda.constants import ENV_LOCAL_WEBHOOK_CA_BUNDLE
from kops_lambda.errors import InvalidSettings
from stacks.app_builder import STACK_NAME, _cdk_json_context, build_app
from stacks.spot import notification_statements, spot_settings

TOPIC = "arn:aws:sns:us-east-1:123456789012:spot-notes"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0f0f0f0f-0000-4000-8000-000000000000"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ops/spot-webhook-AbCdEf"
TEMPLATE = '{"text": "$cluster/$node: $result, $pods_left left"}'
NOTIFICATIONS = {
    "spotNotificationTopicArn": TOPIC,
    "spotNotificationTopicKeyArn": KEY,
    "spotWebhookUrlSecretArn": SECRET,
    "spotWebhookTemplate": TEMPLATE,
}
NOTIFICATION_VARIABLES = {"SPOT_NOTIFICATION_TOPIC_ARN", "SPOT_WEBHOOK_URL_SECRET_ARN", "SPOT_WEBHOOK_TEMPLATE"}


def _spot_function(template: dict[str, Any]) -> dict[str, Any]:
    functions: list[dict[str, Any]] = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "kops_lambda.handlers.spot_interruption.handler"
    ]
    (function,) = functions
    return function


def _role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = _spot_function(template)["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.fixture(scope="module")
def with_notifications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir: Path = tmp_path_factory.mktemp("spot-notifications")
    # cdk-nag runs in the synth: an unacknowledged finding raises here
    assembly = build_app(outdir, context=_cdk_json_context() | NOTIFICATIONS).synth()
    loaded: dict[str, Any] = json.loads(Path(assembly.get_stack_by_name(STACK_NAME).template_full_path).read_text())
    return loaded


def test_by_default_there_are_no_notifications(template_json: dict[str, Any]) -> None:
    variables = _spot_function(template_json)["Properties"]["Environment"]["Variables"]
    assert NOTIFICATION_VARIABLES.isdisjoint(variables)
    actions = {a for s in _role_statements(template_json) for a in _actions(s)}
    assert not {a for a in actions if a.startswith("sns:")}


def test_the_settings_reach_the_handler_and_the_url_stays_in_its_secret(with_notifications: dict[str, Any]) -> None:
    variables = _spot_function(with_notifications)["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k in NOTIFICATION_VARIABLES} == {
        "SPOT_NOTIFICATION_TOPIC_ARN": TOPIC,
        "SPOT_WEBHOOK_URL_SECRET_ARN": SECRET,
        "SPOT_WEBHOOK_TEMPLATE": TEMPLATE,
    }
    # The key is the grant's business only, and the local system's CA bundle is never set by the stack
    assert KEY not in json.dumps(variables)
    assert ENV_LOCAL_WEBHOOK_CA_BUNDLE not in json.dumps(with_notifications)


def test_the_role_may_publish_to_that_topic_and_read_that_secret_only(with_notifications: dict[str, Any]) -> None:
    statements = _role_statements(with_notifications)
    sns = [s for s in statements if any(a.startswith("sns:") for a in _actions(s))]
    assert [(_actions(s), s["Resource"], s.get("Condition")) for s in sns] == [(["sns:Publish"], TOPIC, None)]
    webhook = [s for s in statements if SECRET in json.dumps(s["Resource"])]
    assert [(_actions(s), s["Resource"], s.get("Condition")) for s in webhook] == [
        (["secretsmanager:GetSecretValue"], SECRET, None)
    ]
    # The topic's own key, through SNS only; the stack's key keeps its Secrets Manager-only statements
    (key,) = [s for s in statements if s["Resource"] == KEY]
    assert sorted(_actions(key)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}


def test_without_a_key_the_topic_gets_no_kms_grant() -> None:
    stack = Stack(App(context={"spotNotificationTopicArn": TOPIC}), "S")
    settings = spot_settings(stack, dry_run=False)
    assert [s.to_statement_json()["Action"] for s in notification_statements(settings)] == ["sns:Publish"]


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"spotWebhookUrlSecretArn": SECRET, "spotWebhookTemplate": '{"text": "$podsleft"}'}, "spotWebhookTemplate"),
        ({"spotWebhookUrlSecretArn": "ops/spot-webhook"}, "spotWebhookUrlSecretArn"),
        ({"spotNotificationTopicArn": "arn:aws:sns:us-east-1:123456789012:*"}, "spotNotificationTopicArn"),
        ({"spotNotificationTopicKeyArn": KEY}, "spotNotificationTopicKeyArn"),
    ],
)
def test_a_bad_value_fails_the_synth_naming_its_key(context: dict[str, str], key: str) -> None:
    with pytest.raises(InvalidSettings, match=f"^{key}: "):
        spot_settings(Stack(App(context=context), "S"), dry_run=False)


def test_every_notification_key_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [key for key in NOTIFICATIONS if f"| `{key}` |" not in readme] == []
