"""IAM side of credential onboarding: the cluster's user, its policies, the node boundary and the shared Spot role.

Every function looks up what exists and converges on the wanted state; results say what this call
created, which is what a rollback may remove. An entity with one of our names that we did not create (the
vendor's script made it) is refused unless the input says `adopt_existing: true`; adopting rewrites it to our
documents and tags it as adopted, so offboarding knows to leave it. What onboarding never makes but finds on
our identities (a managed policy attached by hand, an inline policy) is removed: a rerun repairs that drift too.
"""

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import (
    LEGACY_INLINE_POLICY_NAME,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    TAG_ADOPTED,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
)
from kops_lambda.errors import ForeignEntity, PolicyQuotaExceeded
from kops_lambda.logic import policies
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.rollback import aws_state
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.credentials import IamEntities

MAX_POLICY_VERSIONS = 5


@dataclass(frozen=True)
class DesiredPolicy:
    """A customer managed policy as onboarding writes it. `adoptable`: one the vendor's script may have made."""

    arn: str
    document: dict[str, Any]
    description: str
    adoptable: bool
    creation_tags: list[dict[str, str]] | None = None

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DesiredIam:
    """Everything CreateIamEntities converges on, computed without calling IAM (the plan reads it too)."""

    user_name: str
    user_tags: list[dict[str, str]]
    shared_policy: DesiredPolicy
    boundary_policy: DesiredPolicy
    cluster_policies: list[DesiredPolicy]
    user_policy_arns: list[str]  # attached to the user, the cluster's policies last
    spot_role_trust_policy: dict[str, Any]
    spot_role_policy_arns: list[str]  # attached to the Spot role
    spot_role_unwanted_arns: list[str]  # detached from it (the seed's account-wide policies)
    spot_role_inline_policy: dict[str, Any] | None  # SPOT_ROLE_POLICY_NAME; None with the seed's policies

    @property
    def cluster_policy_arns(self) -> list[str]:
        return [policy.arn for policy in self.cluster_policies]


def desired_iam(
    *,
    partition: str,
    account: str,
    region: str,
    cluster_name: str,
    vpc_id: str,
    include_s3_read: bool = False,
    seed_spot_role_policies: bool = False,
) -> DesiredIam:
    shared_arn = f"arn:{partition}:iam::{account}:policy/{SHARED_POLICY_NAME}"
    documents = policies.cluster_policies(
        partition=partition, account=account, region=region, cluster_name=cluster_name, vpc_id=vpc_id
    )
    cluster = [
        # A policy with the cluster's name that we did not make is refused: only the user is ever adopted.
        DesiredPolicy(
            arn=f"arn:{partition}:iam::{account}:policy/{policies.cluster_policy_name(cluster_name, index)}",
            document=document,
            description=f"kops-onboard: what the user of cluster {cluster_name[:180]} may do",
            adoptable=False,
            creation_tags=_tags(cluster_name),
        )
        for index, document in enumerate(documents)
    ]
    wanted = [policies.managed_policy_arn(partition, p) for p in policies.MANAGED_POLICIES]
    if include_s3_read:
        wanted.append(policies.managed_policy_arn(partition, policies.S3_READ_POLICY))
    wanted.append(shared_arn)
    role_policies = policies.SEED_SPOT_ROLE_POLICIES if seed_spot_role_policies else policies.SPOT_ROLE_POLICIES
    # Without the opt-in, the role keeps none of the seed's account-wide policies (an adopted role had them).
    unwanted = (
        []
        if seed_spot_role_policies
        else sorted(set(policies.SEED_SPOT_ROLE_POLICIES) - set(policies.SPOT_ROLE_POLICIES))
    )
    return DesiredIam(
        user_name=user_name(cluster_name),
        user_tags=_tags(cluster_name),
        shared_policy=DesiredPolicy(
            arn=shared_arn,
            document=policies.shared_policy(partition=partition, account=account),
            description="kops-onboard: guardrails every cluster's user is held to",
            adoptable=True,
        ),
        boundary_policy=DesiredPolicy(
            arn=policies.boundary_policy_arn(partition, account),
            document=policies.boundary_policy(partition=partition),
            description="kops-onboard: permissions boundary of every role a cluster's user creates",
            adoptable=False,
        ),
        cluster_policies=cluster,
        user_policy_arns=[*wanted, *(p.arn for p in cluster)],
        spot_role_trust_policy=policies.spot_role_trust_policy(account=account),
        spot_role_policy_arns=[policies.managed_policy_arn(partition, name) for name in role_policies],
        spot_role_unwanted_arns=[policies.managed_policy_arn(partition, name) for name in unwanted],
        spot_role_inline_policy=None
        if seed_spot_role_policies
        else policies.spot_role_policy(partition=partition, account=account),
    )


def ensure_iam_entities(
    iam: Any,
    *,
    partition: str,
    account: str,
    region: str,
    cluster_name: str,
    vpc_id: str,
    include_s3_read: bool = False,
    seed_spot_role_policies: bool = False,
    adopt_existing: bool = False,
) -> IamEntities:
    desired = desired_iam(
        partition=partition,
        account=account,
        region=region,
        cluster_name=cluster_name,
        vpc_id=vpc_id,
        include_s3_read=include_s3_read,
        seed_spot_role_policies=seed_spot_role_policies,
    )
    name = desired.user_name
    with translated_aws_errors("IAM onboarding"):
        user_arn, user_created = _ensure_user(iam, name, cluster_name, adopt_existing)
        shared = desired.shared_policy
        shared_created, new_version = _ensure_managed_policy(iam, shared, adopt_existing=adopt_existing)
        _ensure_managed_policy(iam, desired.boundary_policy, adopt_existing=False)
        cluster_arns, cluster_created = desired.cluster_policy_arns, []
        for policy in desired.cluster_policies:
            new, _ = _ensure_managed_policy(iam, policy, adopt_existing=False)
            if new:
                cluster_created.append(policy.arn)
        attached, removed = _attach_user_policies(iam, name, desired.user_policy_arns, cluster_arns)
        legacy_removed = _remove_legacy_inline_policy(iam, name)
        removed += _remove_user_inline_policies(iam, name)
        role_arn, role_created, role_removed = _ensure_spot_role(iam, desired, adopt=adopt_existing)
    return IamEntities(
        user_name=name,
        user_arn=user_arn,
        user_created=user_created,
        managed_policy_arns=desired.user_policy_arns,
        attached_policy_arns=attached,
        cluster_policy_arns=cluster_arns,
        cluster_policies_created=cluster_created,
        legacy_inline_policy_removed=legacy_removed,
        shared_policy_arn=shared.arn,
        shared_policy_created=shared_created,
        shared_policy_version_created=new_version,
        spot_role_arn=role_arn,
        spot_role_created=role_created,
        removed_extras=[*removed, *role_removed],
    )


def _ensure_user(iam: Any, name: str, cluster_name: str, adopt: bool) -> tuple[str, bool]:
    try:
        user = iam.get_user(UserName=name)["User"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        created = iam.create_user(UserName=name, Tags=_tags(cluster_name))["User"]
        return str(created["Arn"]), True
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    if not _ours_or_adopted(tags, f"IAM user {name}", adopt):
        # The keys it had stay the customer's: offboarding deletes only keys made after adoption.
        keys = " ".join(k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"])
        iam.tag_user(UserName=name, Tags=[*_tags(cluster_name), {"Key": TAG_ADOPTED, "Value": keys}])
    return str(user["Arn"]), False


def _ours_or_adopted(tags: dict[str, str], entity: str, adopt: bool) -> bool:
    """True when we made it (or adopted it before); False when it is to be adopted now; raises otherwise."""
    if tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE:
        return True
    if not adopt:
        raise ForeignEntity(
            f"{entity} exists but was not created by {TAG_MANAGED_BY_VALUE} (no {TAG_MANAGED_BY} tag); "
            "set adopt_existing: true in the input to adopt it (its documents are rewritten to ours), or remove it"
        )
    return False


def _ensure_managed_policy(iam: Any, desired: DesiredPolicy, *, adopt_existing: bool) -> tuple[bool, str | None]:
    """Create the policy, or add a default version when its document changed: (created, new version)."""
    arn, name, document = desired.arn, desired.name, desired.document
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        iam.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(document),
            Description=desired.description,
            Tags=desired.creation_tags or [{"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE}],
        )
        return True, None
    tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]}
    if not _ours_or_adopted(tags, f"IAM policy {name}", adopt_existing):
        # The version it had is what offboarding makes the default again.
        iam.tag_policy(
            PolicyArn=arn,
            Tags=[
                {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
                {"Key": TAG_ADOPTED, "Value": str(policy["DefaultVersionId"])},
            ],
        )
    if policies.canonical(default_document(iam, policy)) == policies.canonical(document):
        return False, None
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= MAX_POLICY_VERSIONS:
        # Never the default: the oldest of the others makes room.
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    created = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    return False, str(created["PolicyVersion"]["VersionId"])


def foreign_user_policies(present: set[str], wanted: list[str], user: str) -> list[str]:
    """Attached managed policies onboarding never attaches (neither wanted nor one of the cluster's own)."""
    return [
        arn
        for arn in sorted(present)
        if arn not in wanted and not policies.is_cluster_policy(arn.rsplit("/", 1)[-1], user)
    ]


def foreign_role_policies(present: set[str], desired: DesiredIam) -> list[str]:
    """Managed policies on the Spot role onboarding never attaches (the seed's unwanted ones are known)."""
    known = {*desired.spot_role_policy_arns, *desired.spot_role_unwanted_arns}
    return sorted(present - known)


def foreign_role_inline_policies(names: list[str], desired: DesiredIam) -> list[str]:
    ours = {policies.SPOT_ROLE_POLICY_NAME} if desired.spot_role_inline_policy is not None else set()
    return sorted(set(names) - ours)


def _attach_user_policies(
    iam: Any, name: str, wanted: list[str], cluster_arns: list[str]
) -> tuple[list[str], list[str]]:
    """Attach what is missing, retire the cluster's policies no longer needed (fewer statements packed into fewer
    policies) and detach what onboarding never attaches; returns (ARNs attached, what was removed)."""
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=name)
    present = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
    stale = [
        arn
        for arn in sorted(present)
        if policies.is_cluster_policy(arn.rsplit("/", 1)[-1], name) and arn not in cluster_arns
    ]
    foreign = foreign_user_policies(present, wanted, name)
    missing = [arn for arn in wanted if arn not in present]
    count = len(present) - len(stale) - len(foreign) + len(missing)
    if count > policies.USER_ATTACHMENT_LIMIT:
        raise PolicyQuotaExceeded(
            f"IAM user {name} would have {count} managed policies attached, "
            f"above IAM's default quota of {policies.USER_ATTACHMENT_LIMIT}"
        )
    for arn in stale:
        iam.detach_user_policy(UserName=name, PolicyArn=arn)
        aws_state.delete_policy(iam, arn, Report())
    for arn in foreign:
        iam.detach_user_policy(UserName=name, PolicyArn=arn)
    for arn in missing:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return missing, [f"managed policy {arn} detached from IAM user {name}" for arn in foreign]


def _remove_user_inline_policies(iam: Any, name: str) -> list[str]:
    """Onboarding gives the user no inline policy (the seed's is migrated before): any other is removed."""
    names = iam.list_user_policies(UserName=name)["PolicyNames"]
    for policy in names:
        iam.delete_user_policy(UserName=name, PolicyName=policy)
    return [f"inline policy {policy} deleted from IAM user {name}" for policy in names]


def _remove_legacy_inline_policy(iam: Any, name: str) -> bool:
    """Migration: the inline policy that held the allows before they moved to managed policies (IAM caps a user's
    inline policies at 2,048 characters); True when it existed. Rollback restores it from the baseline."""
    try:
        iam.delete_user_policy(UserName=name, PolicyName=LEGACY_INLINE_POLICY_NAME)
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        return False
    return True


def _ensure_spot_role(iam: Any, desired: DesiredIam, *, adopt: bool) -> tuple[str, bool, list[str]]:
    created = False
    try:
        role = iam.get_role(RoleName=SPOT_ROLE_NAME)["Role"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(
            RoleName=SPOT_ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(desired.spot_role_trust_policy),
            Description="kops-onboard: runs the Lambda function that handles Spot interruptions",
            Tags=[{"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE}],
        )["Role"]
        created = True
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=SPOT_ROLE_NAME)["AttachedPolicies"]}
    detached = [arn for arn in desired.spot_role_unwanted_arns if arn in attached]
    if not created:
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=SPOT_ROLE_NAME)["Tags"]}
        if not _ours_or_adopted(tags, f"IAM role {SPOT_ROLE_NAME}", adopt):
            # What offboarding attaches again.
            iam.tag_role(
                RoleName=SPOT_ROLE_NAME,
                Tags=[
                    {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
                    {"Key": TAG_ADOPTED, "Value": " ".join(arn.rsplit("/", 1)[-1] for arn in detached)},
                ],
            )
    for arn in desired.spot_role_policy_arns:
        if arn not in attached:
            iam.attach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn=arn)
    for arn in detached:
        iam.detach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn=arn)
    foreign = foreign_role_policies(attached, desired)
    for arn in foreign:
        iam.detach_role_policy(RoleName=SPOT_ROLE_NAME, PolicyArn=arn)
    foreign_inline = foreign_role_inline_policies(
        iam.list_role_policies(RoleName=SPOT_ROLE_NAME)["PolicyNames"], desired
    )
    for policy in foreign_inline:
        iam.delete_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName=policy)
    if desired.spot_role_inline_policy is not None:
        iam.put_role_policy(
            RoleName=SPOT_ROLE_NAME,
            PolicyName=policies.SPOT_ROLE_POLICY_NAME,
            PolicyDocument=json.dumps(desired.spot_role_inline_policy),
        )
    removed = [f"managed policy {arn} detached from IAM role {SPOT_ROLE_NAME}" for arn in foreign]
    removed += [f"inline policy {policy} deleted from IAM role {SPOT_ROLE_NAME}" for policy in foreign_inline]
    return str(role["Arn"]), created, removed


def _tags(cluster_name: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
        {"Key": TAG_CLUSTER, "Value": cluster_name},
    ]


def default_document(iam: Any, policy: dict[str, Any]) -> dict[str, Any]:
    """The document of a managed policy's default version (`policy`: as GetPolicy returned it)."""
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    return document_of(version["Document"])


def document_of(value: str | dict[str, Any]) -> dict[str, Any]:
    """IAM returns documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, dict):
        return value
    decoded: dict[str, Any] = json.loads(urllib.parse.unquote(value))
    return decoded
