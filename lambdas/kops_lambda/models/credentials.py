"""Results of the credential onboarding steps: names, ARNs and what was created; never secret values."""

from pydantic import Field

from kops_lambda.models.base import StrictModel


class IamEntities(StrictModel):
    user_name: str
    user_arn: str
    user_created: bool
    managed_policy_arns: list[str]
    attached_policy_arns: list[str]
    shared_policy_arn: str
    shared_policy_created: bool
    shared_policy_version_created: str | None
    cluster_policy_arns: list[str]
    cluster_policies_created: list[str]
    legacy_inline_policy_removed: bool
    spot_role_arn: str
    spot_role_created: bool
    # What onboarding never makes, found on our identities and removed (a hand-attached policy, an inline one).
    removed_extras: list[str] = Field(default_factory=list)


class KeyPairResult(StrictModel):
    key_name: str
    key_pair_id: str
    private_key_secret_arn: str
    created: bool


class AccessKeyResult(StrictModel):
    user_name: str
    access_key_id: str
    secret_arn: str
    created: bool
    rotated_out_key_id: str | None = None
    # Other active keys of the user (not the stored one, not an adopted user's own) that onboarding deactivated.
    deactivated_key_ids: list[str] = Field(default_factory=list)
