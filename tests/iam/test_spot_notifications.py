"""The statements the Spot role gets for notifications (stacks.spot.notification_statements), decided by
PMapper: publish to the configured topic (its KMS key through SNS only) and read the webhook URL's secret, and
nothing beyond: no other topic, secret or key, no topic management, no writing the secret."""

from typing import Any

import pytest

from kops_lambda.settings import SpotSettings
from stacks.spot import notification_statements
from tests.iam.conftest import PMAPPER_PYTHON, _pmapper

ACCOUNT, REGION = "111122223333", "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:spot-notifications"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0f0f0f-0000-4000-8000-000000000000"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ops/spot-webhook-AbCdEf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kops-onboard-spot-handler"
VIA_SNS = {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

ALLOWED = [
    ("sns:Publish", TOPIC, {}),
    ("kms:GenerateDataKey", KEY, VIA_SNS),
    ("kms:Decrypt", KEY, VIA_SNS),
    ("secretsmanager:GetSecretValue", SECRET, {}),
]
DENIED = [
    # Other topics: another name, another account, every topic
    ("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms", {}),
    ("sns:Publish", f"arn:aws:sns:{REGION}:444455556666:spot-notifications", {}),
    ("sns:Publish", "*", {}),
    # Managing the topic: a subscriber of our own, its policy, its end
    ("sns:Subscribe", TOPIC, {}),
    ("sns:SetTopicAttributes", TOPIC, {}),
    ("sns:DeleteTopic", TOPIC, {}),
    # The key directly, or through another service, or another key
    ("kms:Decrypt", KEY, {}),
    ("kms:Decrypt", KEY, {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}),
    ("kms:GenerateDataKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1f1f1f1f-0000-4000-8000-000000000000", VIA_SNS),
    # Other secrets (one whose name extends ours included), or writing or describing this one
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ops/spot-webhook-XyZ123", {}),
    (
        "secretsmanager:GetSecretValue",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ops/spot-webhook-AbCdEf-x",
        {},
    ),
    (
        "secretsmanager:GetSecretValue",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kops-onboard/agent-api-key",
        {},
    ),
    ("secretsmanager:PutSecretValue", SECRET, {}),
    ("secretsmanager:PutResourcePolicy", SECRET, {}),
    ("iam:PassRole", ROLE, {}),
]


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    if not PMAPPER_PYTHON.exists():
        pytest.fail(f"{PMAPPER_PYTHON} is missing: run `make pmapper` (make test does) to build PMapper's venv")
    settings = SpotSettings(notification_topic_arn=TOPIC, notification_topic_key_arn=KEY, webhook_url_secret_arn=SECRET)
    statements = [s.to_statement_json() for s in notification_statements(settings)]
    role = {
        "RoleName": ROLE.rsplit("/", 1)[-1],
        "RoleId": "AROAPROBESPOTNOTIFY1",
        "Arn": ROLE,
        "AssumeRolePolicyDocument": LAMBDA_TRUST,
        "InstanceProfileList": [],
        "RolePolicyList": [
            {"PolicyName": "notifications", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
        ],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }
    details = {"UserDetailList": [], "RoleDetailList": [role], "GroupDetailList": [], "Policies": []}
    queries = [{"principal": ROLE, "action": a, "resource": r, "context": c} for a, r, c in (*ALLOWED, *DENIED)]
    return _pmapper({"authorization_details": details, "queries": queries})


def test_the_spot_role_may_publish_to_its_topic_and_read_its_webhook_secret(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][: len(ALLOWED)]
    assert [request for request, allowed in zip(ALLOWED, decisions, strict=True) if not allowed] == []


def test_nothing_beyond_them(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][len(ALLOWED) :]
    assert [request for request, allowed in zip(DENIED, decisions, strict=True) if allowed] == []
    assert evaluation["admins"] == [] and evaluation["edges"] == []
