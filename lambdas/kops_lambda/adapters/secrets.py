"""Secrets Manager: write a value straight from the API that produced it; read it back for reuse."""

import json
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code


def read_secret_json(secretsmanager: Any, name: str) -> dict[str, Any] | None:
    """The secret's JSON value, or None when the secret does not exist (or is scheduled for deletion)."""
    try:
        value = secretsmanager.get_secret_value(SecretId=name)["SecretString"]
    except ClientError as exc:
        if error_code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
            return None
        raise
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def secret_arn(secretsmanager: Any, name: str) -> str | None:
    try:
        return str(secretsmanager.describe_secret(SecretId=name)["ARN"])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def reader_policy(reader_arns: list[str]) -> dict[str, Any]:
    """Resource policy: nobody but the named principals may read the value (IAM grants elsewhere don't count)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyNamedReaders",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": reader_arns}},
            }
        ],
    }


def write_secret(
    secretsmanager: Any,
    *,
    name: str,
    value: str,
    kms_key_id: str | None,
    description: str,
    tags: list[dict[str, str]],
    reader_arns: list[str] | None = None,
    exists: bool = False,
) -> str:
    """Create the secret, or store a new version when it exists. Returns its ARN.

    `exists`: the caller has just read the secret's value, so only a new version is stored (no CreateSecret
    attempt: the access-key rotation may not create secrets).

    A secret still in its recovery window (an offboarding with secret_recovery_days > 0) is restored first:
    Secrets Manager refuses both a new secret of that name and a new version of a deleted one.
    With reader_arns, the secret carries a resource policy denying GetSecretValue to everyone else.
    """
    if exists:
        arn = str(secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"])
        if reader_arns:
            restrict_readers(secretsmanager, arn, reader_arns)
        return arn
    options: dict[str, Any] = {"Name": name, "SecretString": value, "Description": description, "Tags": tags}
    if kms_key_id:
        options["KmsKeyId"] = kms_key_id
    try:
        arn = str(secretsmanager.create_secret(**options)["ARN"])
    except ClientError as exc:
        if error_code(exc) not in {"ResourceExistsException", "InvalidRequestException"}:
            raise
        if _scheduled_for_deletion(secretsmanager, name):
            secretsmanager.restore_secret(SecretId=name)
        elif error_code(exc) == "InvalidRequestException":
            raise
        arn = str(secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"])
    if reader_arns:
        restrict_readers(secretsmanager, arn, reader_arns)
    return arn


def restrict_readers(secretsmanager: Any, secret_id: str, reader_arns: list[str]) -> None:
    """Put our resource policy (reader_policy): also on a secret a step reuses, so a rerun repairs a hand edit."""
    secretsmanager.put_resource_policy(
        SecretId=secret_id, ResourcePolicy=json.dumps(reader_policy(reader_arns)), BlockPublicPolicy=True
    )


def _scheduled_for_deletion(secretsmanager: Any, name: str) -> bool:
    try:
        return "DeletedDate" in secretsmanager.describe_secret(SecretId=name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise
