"""What every model shares: strict, frozen models, validation errors in words, and the identity modes a
cluster can resolve to (apart from the onboarding models, so the Spot path's credential model loads alone)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

# authenticator: aws-iam-authenticator maps our IAM identities; service-account: ServiceAccount tokens.
ResolvedIdentityMode = Literal["authenticator", "service-account"]
SECRET_ARN_PATTERN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(exc: ValidationError) -> str:
    """The fields and reasons of a validation error, never the values."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return "invalid input: " + "; ".join(problems)
