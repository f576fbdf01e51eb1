"""The local STS answers a presigned GetCallerIdentity (an aws-iam-authenticator token) the way AWS STS does.

The request is sent the way the authenticator sends it (`tools/authenticator/local_sts.go`): to the local
endpoint with the token's STS host in the Host header, its own cluster id in `x-k8s-aws-id` and
`Accept: application/json`.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from kops_local.aws import LocalAws
from kops_local.iam_tokens import IamCredentials, iam_token, role_session, user_credentials
from tests.local_aws.conftest import unique

REGION = "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _presented(local_aws: LocalAws, token: str, *, cluster_id: str) -> tuple[int, Any]:
    """The token's presigned URL, sent as the authenticator sends it: (status, parsed body)."""
    encoded = token.removeprefix("k8s-aws-v1.")
    url = urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    request = urllib.request.Request(f"{local_aws.endpoint_url}{url.path}?{url.query}")
    request.add_header("Host", url.netloc)
    request.add_header("x-k8s-aws-id", cluster_id)
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _caller(body: Any) -> dict[str, str]:
    result: dict[str, str] = body["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    return result


def test_a_users_token_answers_that_user_in_json(local_aws: LocalAws) -> None:
    # Given an IAM user with an access key and a token presigned with it
    iam = local_aws.client("iam")
    name = unique("token-user")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    token = iam_token(user_credentials(iam, name), cluster_id="c1.k8s.local", region=REGION)
    # When it is presented with the cluster id it was minted for
    status, body = _presented(local_aws, token, cluster_id="c1.k8s.local")
    # Then STS answers, in JSON, the user of the access key in X-Amz-Credential
    assert status == 200
    assert _caller(body)["Arn"] == arn
    assert _caller(body)["Account"] == local_aws.account_id


def test_an_assumed_role_sessions_token_answers_the_session(local_aws: LocalAws) -> None:
    # Given a session of a role
    iam = local_aws.client("iam")
    role = unique("token-role")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    session = role_session(local_aws.client("sts"), role_arn, "i-0123456789abcdef0")
    token = iam_token(session, cluster_id="c1.k8s.local", region=REGION)
    # When its token is presented
    status, body = _presented(local_aws, token, cluster_id="c1.k8s.local")
    # Then the caller is the assumed-role session, its UserId role-id:session
    assert status == 200
    assert _caller(body)["Arn"] == f"arn:aws:sts::{local_aws.account_id}:assumed-role/{role}/i-0123456789abcdef0"
    assert _caller(body)["UserId"].endswith(":i-0123456789abcdef0")


def test_a_token_presented_with_another_cluster_id_fails_its_signature(local_aws: LocalAws) -> None:
    # Given a token signed for cluster c1 (x-k8s-aws-id is a signed header)
    iam = local_aws.client("iam")
    name = unique("token-user")
    iam.create_user(UserName=name)
    token = iam_token(user_credentials(iam, name), cluster_id="c1.k8s.local", region=REGION)
    # When the authenticator of cluster c2 presents it (with its own cluster id)
    status, body = _presented(local_aws, token, cluster_id="c2.k8s.local")
    # Then STS refuses the signature, as AWS does
    assert status >= 400
    assert "SignatureDoesNotMatch" in body


def test_a_token_signed_with_a_wrong_secret_or_an_unknown_key_is_refused(local_aws: LocalAws) -> None:
    # Given a user's real access key id with a wrong secret, and a key id STS never issued
    iam = local_aws.client("iam")
    name = unique("token-user")
    iam.create_user(UserName=name)
    real = user_credentials(iam, name)
    forged = iam_token(IamCredentials(real.access_key_id, "not-the-secret"), cluster_id="c1", region=REGION)
    unknown = iam_token(IamCredentials("AKIAUNKNOWNUNKNOWN00", "x"), cluster_id="c1", region=REGION)
    # When they are presented
    forged_status, forged_body = _presented(local_aws, forged, cluster_id="c1")
    unknown_status, unknown_body = _presented(local_aws, unknown, cluster_id="c1")
    # Then neither names a caller
    assert forged_status >= 400 and "SignatureDoesNotMatch" in forged_body
    assert unknown_status >= 400 and "InvalidClientTokenId" in unknown_body


def test_ordinary_signed_calls_are_unchanged(local_aws: LocalAws) -> None:
    # Given the local clients' dummy credentials (no IAM key behind them)
    # When they call GetCallerIdentity with an Authorization header
    identity = local_aws.client("sts").get_caller_identity()
    # Then moto answers as before, without any signature check
    assert identity["Account"] == local_aws.account_id
