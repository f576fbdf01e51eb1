"""The drainer's aws-iam-authenticator token names the STS host its cluster's authenticator accepts: kOps
1.11/1.15 ship v0.4.0 (global endpoint only), later versions v0.5+ (the region's endpoint)."""

import base64
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qs, urlparse

import pytest
import urllib3

from kops_lambda.adapters.aws import token_sts_client
from kops_lambda.constants import SUPPORTED_KOPS_VERSIONS
from kops_lambda.logic.cluster.drainer import needs_global_sts_endpoint
from kops_lambda.logic.cluster.drainer_client import drainer_api_client
from kops_lambda.models.drainer import DrainerCredential
from kops_local.seed.addons import authenticator_image
from kops_local.seed.versions import KopsVersion
from tests.kubeconfigs import client_certificate

REGION = "eu-west-1"
CA_PEM, _ = client_certificate(not_after=datetime.now(UTC) + timedelta(days=1), name="kubernetes-ca")


def _presigned_url(kops_version: str) -> str:
    credential = DrainerCredential(
        cluster_id="old.k8s.local",
        server="https://api.old.k8s.local",
        ca_pem=CA_PEM.decode(),
        mode="authenticator",
        global_sts_endpoint=needs_global_sts_endpoint(kops_version),
    )
    # What the Spot handler builds: its STS clients by endpoint, the token minted by the client itself.
    with drainer_api_client(credential, partial(token_sts_client, REGION), retries=urllib3.Retry(0)) as api:
        assert api.token is not None
        token = api.token.current()
    encoded = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


@pytest.mark.parametrize("minor", SUPPORTED_KOPS_VERSIONS)
def test_the_drainer_token_names_the_sts_host_the_versions_authenticator_accepts(
    minor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEDRAINER01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    # Given a cluster of that kOps version in authenticator mode, whose addon runs this authenticator
    image_tag = authenticator_image(KopsVersion.parse(f"{minor}.0")).rsplit(":", 1)[1]
    accepts_only_global = image_tag.startswith("v0.4")
    # When the drainer's client mints its token
    url = urlparse(_presigned_url(f"{minor}.0"))
    # Then the token's URL names the host that authenticator accepts, signed for that endpoint's region
    expected_host = "sts.amazonaws.com" if accepts_only_global else f"sts.{REGION}.amazonaws.com"
    assert url.hostname == expected_host
    scope = parse_qs(url.query)["X-Amz-Credential"][0].split("/")
    assert scope[2] == ("us-east-1" if accepts_only_global else REGION)
    assert scope[3] == "sts"
