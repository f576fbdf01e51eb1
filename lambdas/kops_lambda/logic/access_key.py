"""The user's access key: created and stored in one invocation; reused while active; rotated on request.

IAM allows 2 access keys per user. We only ever delete the key recorded in our secret; a key someone else
made for the user is deactivated by onboarding (deactivate_other_keys), never deleted: it may be evidence.
Reading the keys, creating one and storing it happen under the cluster's creation marker (logic/lease): two
invocations at once (two executions, or a retry beside a step still running) would otherwise both create a
key, and the secret would keep only one.
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.secrets import read_secret_json, restrict_readers, secret_arn, write_secret
from kops_lambda.constants import TAG_ADOPTED, TAG_CLUSTER, TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, access_key_secret_name
from kops_lambda.errors import AccessKeyLimit
from kops_lambda.logic.lease import creation_marker
from kops_lambda.models.credentials import AccessKeyResult

IAM_ACCESS_KEY_LIMIT = 2


def ensure_access_key(
    iam: Any,
    secretsmanager: Any,
    registry: Any,
    *,
    user_name: str,
    cluster_name: str,
    kms_key_id: str | None,
    reader_arns: list[str] | None = None,
    rotate: bool = False,
    make_room: bool = True,
) -> AccessKeyResult:
    """`rotate`: replace our key even while it is active. `make_room`: when the user already has IAM's 2 keys,
    delete ours before creating the new one (the secret then names a deleted key until the new one is stored);
    without it that is refused with AccessKeyLimit and nothing changes (the scheduled rotation)."""
    secret_name = access_key_secret_name(cluster_name)
    with creation_marker(registry, f"access-key#{cluster_name}"), translated_aws_errors("access key"):
        keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]}
        stored = read_secret_json(secretsmanager, secret_name) or {}
        ours = stored.get("AccessKeyId") if stored.get("AccessKeyId") in keys else None
        if ours and keys[ours] == "Active" and not rotate:
            arn = str(secret_arn(secretsmanager, secret_name))
            if reader_arns:
                restrict_readers(secretsmanager, secret_name, reader_arns)
            return AccessKeyResult(user_name=user_name, access_key_id=ours, secret_arn=arn, created=False)
        if len(keys) >= IAM_ACCESS_KEY_LIMIT:
            if ours is None:
                raise AccessKeyLimit(
                    f"IAM user {user_name} already has {len(keys)} access keys, none created by kops-onboard"
                )
            if not make_room:
                raise AccessKeyLimit(
                    f"IAM user {user_name} already has {len(keys)} access keys: delete the one kops-onboard did not "
                    "create so that a new key can be made before the old one goes"
                )
            # Make room by retiring our own key first; the new one replaces it below.
            iam.delete_access_key(UserName=user_name, AccessKeyId=ours)
            retired: str | None = ours
            ours = None
        else:
            retired = None
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        try:
            arn = write_secret(
                secretsmanager,
                name=secret_name,
                value=json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}),
                kms_key_id=kms_key_id,
                reader_arns=reader_arns,
                exists=bool(stored),
                description=f"kops-onboard: access key of IAM user {user_name}",
                tags=[
                    {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
                    {"Key": TAG_CLUSTER, "Value": cluster_name},
                ],
            )
        except ClientError:
            # Never leave a key whose secret nobody holds.
            iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
            raise
        if ours is not None:
            iam.delete_access_key(UserName=user_name, AccessKeyId=ours)
            retired = ours
    return AccessKeyResult(
        user_name=user_name,
        access_key_id=key["AccessKeyId"],
        secret_arn=arn,
        created=True,
        rotated_out_key_id=retired,
    )


def deactivate_other_keys(iam: Any, *, user_name: str, keep: str) -> list[str]:
    """Every active key of the user but `keep` (the stored one) made inactive; the keys an adopted user had
    before adoption stay as they are (its kops-onboard-adopted tag lists them). Returns the keys deactivated."""
    with translated_aws_errors("access key"):
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user_name)["Tags"]}
        adopted = set(tags.get(TAG_ADOPTED, "").split())
        others = [
            k["AccessKeyId"]
            for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
            if k["Status"] == "Active" and k["AccessKeyId"] != keep and k["AccessKeyId"] not in adopted
        ]
        for key_id in others:
            iam.update_access_key(UserName=user_name, AccessKeyId=key_id, Status="Inactive")
    return others
