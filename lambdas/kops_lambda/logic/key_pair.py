"""The cluster's EC2 key pair: created once, its private key straight into Secrets Manager.

Looking, creating and storing happen under the cluster's creation marker (logic/lease): a second
invocation meanwhile gets CreationInProgress (retried by the workflow), then finds the key pair with its
secret and reuses it. EC2 refuses a second key pair of the same name: one made by someone else between
our look and our create is CreationInProgress too, and the retry reports it as KeyPairWithoutSecret.
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.adapters.secrets import read_secret_json, restrict_readers, secret_arn, write_secret
from kops_lambda.constants import TAG_CLUSTER, TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, private_key_secret_name
from kops_lambda.errors import CreationInProgress, KeyPairWithoutSecret
from kops_lambda.logic.iam_names import key_pair_name
from kops_lambda.logic.lease import creation_marker
from kops_lambda.models.credentials import KeyPairResult


def ensure_key_pair(
    ec2: Any,
    secretsmanager: Any,
    registry: Any,
    *,
    cluster_name: str,
    kms_key_id: str | None,
    reader_arns: list[str] | None = None,
) -> KeyPairResult:
    name = key_pair_name(cluster_name)
    secret_name = private_key_secret_name(cluster_name)
    with creation_marker(registry, f"key-pair#{cluster_name}"), translated_aws_errors("key pair"):
        existing = _describe_key_pair(ec2, name)
        stored = read_secret_json(secretsmanager, secret_name)
        if existing is not None:
            if stored is None or stored.get("KeyPairId") != existing["KeyPairId"]:
                raise KeyPairWithoutSecret(
                    f"EC2 key pair {name} exists but its private key is not in secret {secret_name}; "
                    "delete the key pair (or offboard the cluster) to let onboarding create a new one"
                )
            arn = secret_arn(secretsmanager, secret_name)
            if reader_arns:
                restrict_readers(secretsmanager, secret_name, reader_arns)
            return KeyPairResult(
                key_name=name,
                key_pair_id=existing["KeyPairId"],
                private_key_secret_arn=str(arn),
                created=False,
            )
        try:
            created = ec2.create_key_pair(
                KeyName=name,
                KeyType="rsa",
                TagSpecifications=[{"ResourceType": "key-pair", "Tags": _tags(cluster_name)}],
            )
        except ClientError as exc:
            if error_code(exc) == "InvalidKeyPair.Duplicate":
                raise CreationInProgress(f"EC2 key pair {name}: created by another invocation meanwhile") from None
            raise
        try:
            arn = write_secret(
                secretsmanager,
                name=secret_name,
                value=json.dumps(
                    {"KeyName": name, "KeyPairId": created["KeyPairId"], "PrivateKey": created["KeyMaterial"]}
                ),
                kms_key_id=kms_key_id,
                reader_arns=reader_arns,
                description=f"kops-onboard: private key of EC2 key pair {name}",
                tags=_tags(cluster_name),
            )
        except ClientError:
            # A key pair whose private key is lost is useless: remove it before failing.
            ec2.delete_key_pair(KeyPairId=created["KeyPairId"])
            raise
    return KeyPairResult(key_name=name, key_pair_id=created["KeyPairId"], private_key_secret_arn=arn, created=True)


def _describe_key_pair(ec2: Any, name: str) -> dict[str, Any] | None:
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except ClientError as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return None
        raise
    return dict(pairs[0]) if pairs else None


def _tags(cluster_name: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
        {"Key": TAG_CLUSTER, "Value": cluster_name},
    ]
