"""The Spot handler's identity in the synthesized template: it may read its drainer credentials only, and the
step that writes them may not read them back."""

import json
from typing import Any

from aws_cdk.assertions import Template

from kops_lambda.constants import ENV_SPOT_HANDLER_ROLE_ARN

DRAINER_SECRETS = "kops-onboard/clusters/*/spot-drainer-??????"


def _function(template: Template, handler_module: str) -> dict[str, Any]:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": f"kops_lambda.handlers.{handler_module}.handler"}}
    ).values()
    return function


def _statements_of(template: Template, handler_module: str) -> list[dict[str, Any]]:
    role = _function(template, handler_module)["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _granting(statements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith(prefix) or a == "*" for a in _actions(s))]


def test_the_spot_handler_reads_only_drainer_credentials_tagged_as_ours(template_json: dict[str, Any]) -> None:
    template = Template.from_json(template_json)
    # Given every statement of the Spot handler's role
    statements = _statements_of(template, "spot_interruption")
    # Then its Secrets Manager statements are GetSecretValue and (the Spot canary's renewal: the canary runs as
    # this role) PutSecretValue, both on the drainer secrets only, with our tag required
    secrets = _granting(statements, "secretsmanager:")
    assert sorted(a for s in secrets for a in _actions(s)) == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
    ]
    for statement in secrets:
        resources = json.dumps(statement["Resource"])
        assert DRAINER_SECRETS in resources
        for other in ("kubeconfig", "access-key", "ssh-private-key", 'clusters/*"', "clusters/*-"):
            assert other not in resources, other
        assert statement["Condition"] == {"StringEquals": {"secretsmanager:ResourceTag/managed-by": "kops-onboard"}}
    # And it may use the secrets key only through Secrets Manager: decrypt, and encrypt a renewed token
    kms = _granting(statements, "kms:")
    assert sorted(a for s in kms for a in _actions(s)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert all("kms:ViaService" in json.dumps(s["Condition"]) for s in kms)


def test_the_drainer_step_writes_the_credentials_and_reads_only_the_admin_kubeconfig(
    template_json: dict[str, Any],
) -> None:
    template = Template.from_json(template_json)
    statements = _statements_of(template, "issue_drainer_credential")
    # Then every write is on the drainer secrets, and the only read is of the kubeconfig secrets
    for statement in _granting(statements, "secretsmanager:"):
        resources = json.dumps(statement["Resource"])
        if "secretsmanager:GetSecretValue" in _actions(statement):
            assert _actions(statement) == ["secretsmanager:GetSecretValue"]
            assert "/kubeconfig-*" in resources and "spot-drainer" not in resources
        else:
            assert DRAINER_SECRETS in resources, statement
            assert "secretsmanager:PutResourcePolicy" in _actions(statement)
    # And the Spot handler's role ARN reaches it as configuration (the credential's only reader)
    environment = _function(template, "issue_drainer_credential")["Properties"]["Environment"]["Variables"]
    assert environment[ENV_SPOT_HANDLER_ROLE_ARN]["Fn::GetAtt"][1] == "Arn"


def test_no_other_function_may_read_drainer_credentials(template_json: dict[str, Any]) -> None:
    template = Template.from_json(template_json)
    readers = []
    for function in template.find_resources("AWS::Lambda::Function").values():
        module = function["Properties"]["Handler"].removeprefix("kops_lambda.handlers.").removesuffix(".handler")
        for statement in _statements_of(template, module):
            resources = json.dumps(statement["Resource"])
            reads = "secretsmanager:GetSecretValue" in _actions(statement)
            if reads and ("spot-drainer" in resources or 'clusters/*"' in resources):
                readers.append(module)
    # The Spot canary is the Spot handler's identity (one role), nobody else
    assert sorted(readers) == ["spot_canary", "spot_interruption"]
    roles = {
        json.dumps(_function(template, module)["Properties"]["Role"]) for module in ("spot_canary", "spot_interruption")
    }
    assert len(roles) == 1
