"""The Spot path's side of the drainer identity (drainer.py issues it): read the stored credential and build a
client that is that identity. Kept apart from the issuing so the Spot handler imports nothing of onboarding."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import urllib3
from botocore.exceptions import ClientError
from pydantic import ValidationError

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.adapters.kube import KubeClient
from kops_lambda.adapters.kube_bearer import bearer_api_client
from kops_lambda.errors import ClusterAccessError
from kops_lambda.models.drainer import DrainerCredential

# aws-iam-authenticator tokens are presigned for 60 s (adapters/authenticator_token.py): mint a fresh one well
# before that.
AUTHENTICATOR_TOKEN_REFRESH_SECONDS = 30.0

TokenStsClient = Callable[[bool], Any]
"""The STS client that presigns authenticator tokens, for the global endpoint (True) or the region's."""


def read_drainer_credential(secretsmanager: Any, secret_arn: str) -> DrainerCredential:
    """The credential in the secret; errors name the secret, never its content."""
    try:
        with translated_aws_errors("read the drainer credential"):
            value = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        raise ClusterAccessError(f"cannot read the drainer credential {secret_arn}: {error_code(exc)}") from None
    try:
        return DrainerCredential.model_validate(json.loads(value))
    except (ValueError, ValidationError):  # the messages could quote the token: never passed on
        raise ClusterAccessError(f"the drainer credential {secret_arn} is malformed") from None


def drainer_api_client(
    credential: DrainerCredential,
    token_sts: TokenStsClient | None,
    *,
    retries: urllib3.Retry,
    connections: int | None = None,
    now: datetime | None = None,
) -> KubeClient:
    """A client that is the drainer identity: the stored token, or an authenticator token for the role of
    `token_sts`'s credentials, presigned for the endpoint the cluster's authenticator accepts."""
    if credential.mode == "authenticator":
        if token_sts is None:
            raise ValueError("authenticator mode needs an STS client to presign its tokens")
        sts = token_sts(credential.global_sts_endpoint)
        return bearer_api_client(
            credential.server,
            credential.ca_pem,
            lambda: authenticator_token(sts, credential.cluster_id),
            refresh_seconds=AUTHENTICATOR_TOKEN_REFRESH_SECONDS,
            retries=retries,
            connections=connections,
        )
    token = credential.token
    if not token:
        raise ClusterAccessError(f"cluster {credential.cluster_id}: the drainer credential holds no token")
    if credential.expires_at is not None and now is not None and credential.expires_at <= now:
        raise ClusterAccessError(
            f"cluster {credential.cluster_id}: the drainer credential's token expired at "
            f"{credential.expires_at.isoformat()}; onboard the cluster again (or let the canary renew it)"
        )
    return bearer_api_client(
        credential.server, credential.ca_pem, lambda: token, retries=retries, connections=connections
    )
