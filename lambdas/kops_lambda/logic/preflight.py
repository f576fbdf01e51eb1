"""Checks before building: what would make a later step fail, found before anything is created, with the
error that step would raise (so a run that cannot succeed stops at ValidateCluster, not six steps later
and a full rollback).

* the cluster's IAM user exists and is not ours → ForeignEntity (CreateIamEntities), unless the input
  says `adopt_existing: true` (then CreateIamEntities adopts it, and the shared entities below);
* it is ours and has IAM's 2 access keys, none of them the one the registry records as ours
  → AccessKeyLimit (StoreAccessKey);
* the shared policy or the Spot role exists and is not ours → ForeignEntity;
* an EC2 key pair with the cluster's name exists and is not ours (no managed-by tag for this cluster)
  → KeyPairWithoutSecret (CreateKeyPair).

Read-only: names, tags and key ids, never a secret value. First of all, before any AWS call: the cluster's
region must be one the deployment's Spot rules cover (`check_region_covered`), or its Spot interruptions
would never reach the handler.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import (
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    private_key_secret_name,
)
from kops_lambda.errors import (
    AccessKeyLimit,
    ForeignEntity,
    KeyPairWithoutSecret,
    KopsOnboardError,
    RegionNotCovered,
)
from kops_lambda.logic.access_key import IAM_ACCESS_KEY_LIMIT
from kops_lambda.logic.iam_names import key_pair_name, user_name
from kops_lambda.models.registry import ClusterRecord


def check_region_covered(region: str, covered: tuple[str, ...]) -> None:
    """`covered` comes from the deployment (the stack's SPOT_REGIONS), never from the execution's input."""
    if region not in covered:
        raise RegionNotCovered(
            f"cluster region {region} is not covered by this deployment's Spot rules (spotRegions: "
            f"{', '.join(covered)}); add {region} to the spotRegions context and deploy again"
        )


@dataclass(frozen=True)
class Refusal:
    """A resource a later step would refuse, with the error it would raise."""

    kind: str
    name: str
    error: KopsOnboardError


def check_before_building(
    iam: Any,
    ec2: Any,
    *,
    cluster_name: str,
    registered: ClusterRecord | None,
    partition: str,
    account: str,
    adopt_existing: bool = False,
) -> None:
    refusals = refusals_before_building(
        iam,
        ec2,
        cluster_name=cluster_name,
        registered=registered,
        partition=partition,
        account=account,
        adopt_existing=adopt_existing,
    )
    if refusals:
        raise refusals[0].error


def refusals_before_building(
    iam: Any,
    ec2: Any,
    *,
    cluster_name: str,
    registered: ClusterRecord | None,
    partition: str,
    account: str,
    adopt_existing: bool = False,
) -> list[Refusal]:
    """Every refusal, in the order of the steps that would raise them (the plan lists them all)."""
    checks: list[tuple[str, str, Callable[[], None]]] = [
        (
            "iam-user",
            user_name(cluster_name),
            lambda: _check_user(iam, cluster_name, registered, adopt_existing=adopt_existing),
        ),
    ]
    if not adopt_existing:
        checks += [
            ("iam-policy", SHARED_POLICY_NAME, lambda: _check_shared_policy(iam, partition=partition, account=account)),
            ("iam-role", SPOT_ROLE_NAME, lambda: _check_spot_role(iam)),
        ]
    checks.append(("ec2-key-pair", key_pair_name(cluster_name), lambda: _check_key_pair(ec2, cluster_name)))
    refusals = []
    with translated_aws_errors("checks before building"):
        for kind, name, check in checks:
            try:
                check()
            except (ForeignEntity, AccessKeyLimit, KeyPairWithoutSecret) as exc:
                refusals.append(Refusal(kind, name, exc))
    return refusals


def _tags(entries: list[dict[str, str]]) -> dict[str, str]:
    return {entry["Key"]: entry["Value"] for entry in entries}


def _ours(tags: dict[str, str]) -> bool:
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


def _exists(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True


_ADOPT_HINT = "set adopt_existing: true in the input to adopt it (its documents are rewritten to ours), or remove it"


def _check_user(iam: Any, cluster_name: str, registered: ClusterRecord | None, *, adopt_existing: bool) -> None:
    name = user_name(cluster_name)
    if not _exists(iam.get_user, UserName=name):
        return
    if not adopt_existing and not _ours(_tags(iam.list_user_tags(UserName=name)["Tags"])):
        raise ForeignEntity(
            f"IAM user {name} exists but was not created by {TAG_MANAGED_BY_VALUE} (no {TAG_MANAGED_BY} tag); "
            + _ADOPT_HINT
        )
    keys = [key["AccessKeyId"] for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]]
    recorded = registered.resource("access_key").get("access_key_id") if registered else None
    if len(keys) >= IAM_ACCESS_KEY_LIMIT and recorded not in keys:
        raise AccessKeyLimit(f"IAM user {name} already has {len(keys)} access keys, none created by kops-onboard")


def _check_shared_policy(iam: Any, *, partition: str, account: str) -> None:
    policy_arn = f"arn:{partition}:iam::{account}:policy/{SHARED_POLICY_NAME}"
    if _exists(iam.get_policy, PolicyArn=policy_arn) and not _ours(
        _tags(iam.list_policy_tags(PolicyArn=policy_arn)["Tags"])
    ):
        raise ForeignEntity(
            f"IAM policy {SHARED_POLICY_NAME} exists but was not created by {TAG_MANAGED_BY_VALUE}; {_ADOPT_HINT}"
        )


def _check_spot_role(iam: Any) -> None:
    if _exists(iam.get_role, RoleName=SPOT_ROLE_NAME) and not _ours(
        _tags(iam.list_role_tags(RoleName=SPOT_ROLE_NAME)["Tags"])
    ):
        raise ForeignEntity(
            f"IAM role {SPOT_ROLE_NAME} exists but was not created by {TAG_MANAGED_BY_VALUE}; {_ADOPT_HINT}"
        )


def _check_key_pair(ec2: Any, cluster_name: str) -> None:
    name = key_pair_name(cluster_name)
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except ClientError as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return
        raise
    tags = _tags(pairs[0].get("Tags", [])) if pairs else {}
    if pairs and not (_ours(tags) and tags.get(TAG_CLUSTER) == cluster_name):
        raise KeyPairWithoutSecret(
            f"EC2 key pair {name} exists but its private key is not in secret {private_key_secret_name(cluster_name)}; "
            "delete the key pair (or offboard the cluster) to let onboarding create a new one"
        )
