"""The emulator's token authentication beyond the admin's: TokenRequest tokens of ServiceAccounts (accepted
while the account exists and the token has not expired), and which aws-iam-authenticator tokens it would
send to STS at all."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from kubernetes import client

from kops_local.kube import KubeApiEmulator
from kops_local.kube.iam_tokens import canonical_arn, presigned_url
from tests.kube_status import status_of

ADMIN = "emulator-admin-token"


@pytest.fixture
def emulator() -> Iterator[KubeApiEmulator]:
    served = KubeApiEmulator(tokens=[ADMIN], name="tokens")
    served.start()
    yield served
    served.stop()


def core(emulator: KubeApiEmulator, token: str) -> client.CoreV1Api:
    configuration = client.Configuration(
        host=emulator.url, api_key={"BearerToken": token}, api_key_prefix={"BearerToken": "Bearer"}
    )
    return client.CoreV1Api(client.ApiClient(configuration))


def test_a_token_request_token_works_until_its_account_is_deleted(emulator: KubeApiEmulator) -> None:
    # Given a ServiceAccount and a token requested for it by the admin
    admin = core(emulator, ADMIN)
    admin.create_namespace({"metadata": {"name": "team"}})
    admin.create_namespaced_service_account("team", {"metadata": {"name": "robot"}})
    answer = admin.create_namespaced_service_account_token("robot", "team", {"spec": {"expirationSeconds": 600}})
    # Then the answer is a TokenRequest with the expiry asked for, and the token is accepted
    assert answer.status.token and answer.status.expiration_timestamp is not None
    assert status_of(lambda: core(emulator, answer.status.token).list_node()) == 200
    # When the account is deleted (and even when one of that name is made again), Then the token is refused
    admin.delete_namespaced_service_account("robot", "team")
    admin.create_namespaced_service_account("team", {"metadata": {"name": "robot"}})
    assert status_of(lambda: core(emulator, answer.status.token).list_node()) == 401
    assert status_of(lambda: core(emulator, "made-up-token").list_node()) == 401


def test_token_requests_need_an_existing_account_and_a_lifetime_of_ten_minutes(emulator: KubeApiEmulator) -> None:
    admin = core(emulator, ADMIN)
    admin.create_namespace({"metadata": {"name": "team"}})
    assert status_of(lambda: admin.create_namespaced_service_account_token("ghost", "team", {"spec": {}})) == 404
    admin.create_namespaced_service_account("team", {"metadata": {"name": "robot"}})
    short = {"spec": {"expirationSeconds": 60}}
    assert status_of(lambda: admin.create_namespaced_service_account_token("robot", "team", short)) == 400


def _token(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


SIGNED = "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        (f"https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&{SIGNED}", True),
        (f"https://sts.amazonaws.com/?Action=GetCallerIdentity&{SIGNED}", True),
        (f"https://evil.example.com/?Action=GetCallerIdentity&{SIGNED}", False),  # not STS
        (f"http://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&{SIGNED}", False),  # not https
        (f"https://sts.us-east-1.amazonaws.com/?Action=AssumeRole&{SIGNED}", False),  # another action
        ("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&X-Amz-SignedHeaders=host", False),
    ],
    ids=["regional", "global", "other-host", "http", "other-action", "cluster-id-unsigned"],
)
def test_only_presigned_get_caller_identity_urls_for_sts_are_sent(url: str, sent: bool) -> None:
    assert (presigned_url(_token(url)) is not None) is sent
    assert presigned_url(url) is None  # without the prefix it is no token at all


def test_an_assumed_role_session_is_mapped_as_its_role() -> None:
    session = "arn:aws:sts::123456789012:assumed-role/KopsOnboard-SpotHandlerRole/i-0abc"
    assert canonical_arn(session) == "arn:aws:iam::123456789012:role/KopsOnboard-SpotHandlerRole"
    assert canonical_arn("arn:aws:iam::123456789012:user/cast") == "arn:aws:iam::123456789012:user/cast"
