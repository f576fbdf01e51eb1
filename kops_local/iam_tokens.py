"""IAM identities and their aws-iam-authenticator tokens, for the local clusters (tests, bench, demo).

A real control plane started with `RealKubeCluster(sts_url=<local AWS endpoint>)` (as `kops-onboard local up
--kube real` and `tests.kube_backends.start_kube(..., sts_url=...)` do) runs its cluster's authenticator, which
verifies these tokens against the local STS and maps them through the cluster's backend:

    creds = user_credentials(aws.client("iam"), "cast-kops-prod.k8s.local")   # a new access key of the user
    creds = role_session(aws.client("sts"), role_arn, "i-0abc")               # or an assumed-role session
    token = iam_token(creds, cluster_id="prod.k8s.local", region="us-east-1")  # `aws-iam-authenticator token -i`
    status, user = whoami(kube.url, token, ca_pem=kube.ca_certificate)       # 201 + userInfo, or 401 + None

The token is minted by the product's own `authenticator_token`, presigned for AWS's regional STS host (the only
kind the authenticator accepts); moto checks no signature, so any secret key of a known access key works.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_lambda.adapters.aws import GLOBAL_STS_REGION, sts_endpoint

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_sts.client import STSClient

_SELF_SUBJECT_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass(frozen=True)
class IamCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never the secret parts, even in a failing test's report
        return f"IamCredentials(access_key_id={self.access_key_id!r})"


def user_credentials(iam: IAMClient, user_name: str) -> IamCredentials:
    """A new access key of the IAM user (IAM allows 2 per user)."""
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return IamCredentials(key["AccessKeyId"], key["SecretAccessKey"])


def role_session(sts: STSClient, role_arn: str, session_name: str) -> IamCredentials:
    """Credentials of an assumed-role session (`arn:aws:sts::<account>:assumed-role/<role>/<session_name>`)."""
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return IamCredentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])


def iam_token(credentials: IamCredentials, *, cluster_id: str, region: str, global_endpoint: bool = False) -> str:
    """The bearer token the identity of `credentials` presents to the authenticator of cluster `cluster_id`,
    presigned for the region's STS endpoint or (`global_endpoint`) the global one."""
    session: Any = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=GLOBAL_STS_REGION if global_endpoint else region,
    )
    endpoint = sts_endpoint(region, global_endpoint=global_endpoint)
    return authenticator_token(session.client("sts", endpoint_url=endpoint), cluster_id)


def whoami(server_url: str, token: str, *, ca_pem: str | None = None) -> tuple[int, dict[str, Any] | None]:
    """`kubectl auth whoami`: the status of a SelfSubjectReview with `token` and, when it authenticated, the
    user the API server sees (`username`, `groups`, `extra`)."""
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
    request = urllib.request.Request(f"{server_url}{_SELF_SUBJECT_REVIEW}", data=body, method="POST")  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310 (loopback)
            review = json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, None
    user: dict[str, Any] = review["status"]["userInfo"]
    return response.status, user
