"""Cluster access from the kubeconfig secret, with typed errors, and the authenticator's token format."""

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import urllib3
import yaml

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_lambda.adapters.aws import token_sts_client
from kops_lambda.adapters.kube import translated_kube_errors
from kops_lambda.adapters.kubeconfig import api_client, load_kubeconfig
from kops_lambda.errors import ClusterAccessError, KubeApiUnavailable, KubeconfigExpired, UnsafeKubeconfig
from kops_lambda.logic.cluster.access import admin_kubeconfig, check_access, cluster_api
from kops_local.kube import KubeApiEmulator
from tests.kube_backends import start_kube
from tests.kubeconfigs import as_text, with_client_certificate, with_field

from .conftest import REGION, TOKEN, Cluster, MakeCluster, aws_client


@pytest.fixture(scope="module")
def cluster(make_cluster: MakeCluster) -> Cluster:
    return make_cluster("kops=1.21", nodes=1)


def test_a_reachable_cluster_answers_its_version(cluster: Cluster) -> None:
    # Given the kubeconfig secret of a running cluster
    # When we build a client from it
    with cluster_api(aws_client("secretsmanager"), cluster.kubeconfig_secret_arn) as api:
        # Then the server answered GET /version, and the client works for further calls
        assert check_access(api).startswith("v1.")
    assert any(r.path == "/version" and r.status == 200 for r in cluster.kube.requests)


def test_a_missing_secret_is_a_cluster_access_error_naming_it(aws_account: None) -> None:
    # Given a secret ARN that does not exist
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:kops-onboard/clusters/none/kubeconfig-AbCdEf"
    # When / Then
    with pytest.raises(ClusterAccessError, match="kops-onboard/clusters/none/kubeconfig"):
        cluster_api(aws_client("secretsmanager"), arn)


@pytest.mark.parametrize(
    "content",
    [
        "token: sk-very-secret-value\n  : [unbalanced",  # not YAML
        json.dumps({"clusters": [], "users": [{"user": {"token": "sk-very-secret-value"}}]}),  # no contexts
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": "not a url"}}],
                "users": [{"name": "u", "user": {"token": "sk-very-secret-value"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        ),
    ],
    ids=["not-yaml", "no-contexts", "no-server-url"],
)
def test_a_malformed_kubeconfig_is_a_cluster_access_error_without_its_content(aws_account: None, content: str) -> None:
    # Given a kubeconfig secret whose content is unusable (and holds a token)
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(Name=f"kops-onboard/clusters/malformed-{abs(hash(content))}", SecretString=content)["ARN"]
    # When we build a client from it
    with pytest.raises(ClusterAccessError) as raised:
        cluster_api(sm, arn)
    # Then the error names the secret but never echoes its content
    assert arn in str(raised.value)
    assert "sk-very-secret-value" not in str(raised.value)


def test_a_refused_token_is_a_cluster_access_error(cluster: Cluster) -> None:
    # Given a kubeconfig whose token the API server does not accept
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(
        Name=f"kops-onboard/clusters/{cluster.name}/bad-token", SecretString=cluster.kube.kubeconfig("wrong")
    )["ARN"]
    # When / Then: 401 is permanent, not retried
    with pytest.raises(ClusterAccessError, match="401"):
        cluster_api(sm, arn)


def test_a_stopped_api_server_is_retryable_unavailability(aws_account: None) -> None:
    # Given a kubeconfig for an API server that no longer listens
    emulator = KubeApiEmulator(tokens=[TOKEN], name="gone")
    emulator.start()
    kubeconfig = emulator.kubeconfig(TOKEN)
    emulator.stop()
    sm = aws_client("secretsmanager")
    arn = sm.create_secret(Name="kops-onboard/clusters/gone/kubeconfig", SecretString=kubeconfig)["ARN"]
    # When / Then
    with pytest.raises(KubeApiUnavailable, match="unreachable"):
        cluster_api(sm, arn)


@pytest.mark.parametrize("status", [503, 429])
def test_server_errors_and_throttling_are_retryable_unavailability(cluster: Cluster, status: int) -> None:
    # Given an API server answering 503/429 to GET /version
    cluster.kube.inject_fault(method="GET", path_pattern=r"^/version$", status=status, times=1)
    # When / Then
    with pytest.raises(KubeApiUnavailable, match=str(status)):
        cluster_api(aws_client("secretsmanager"), cluster.kubeconfig_secret_arn)


_E = urllib3.exceptions
TRANSPORT_FAILURES = [
    pytest.param(_E.NewConnectionError(None, "refused"), "API server unreachable (could not connect)", id="refused"),
    pytest.param(_E.ConnectTimeoutError(None, "slow"), "API server unreachable (connect timed out)", id="connect"),
    pytest.param(_E.ReadTimeoutError(None, "/version", "slow"), "API server did not answer in time", id="read"),
    pytest.param(_E.SSLError("bad certificate"), "API server unreachable (TLS handshake failed)", id="tls"),
    pytest.param(
        _E.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        "API server reset the connection before answering",
        id="reset",
    ),
]


@pytest.mark.parametrize(("failure", "words"), TRANSPORT_FAILURES)
def test_transport_failures_are_named_in_words_wrapped_or_not(failure: Exception, words: str) -> None:
    # Given a transport failure as urllib3 raises it, bare or wrapped once its retries are spent
    for raised in (failure, _E.MaxRetryError(None, "/version", reason=failure)):
        # When it goes through the translation, Then it is KubeApiUnavailable saying what happened
        with pytest.raises(KubeApiUnavailable) as error, translated_kube_errors("GET /version"):
            raise raised
        assert str(error.value) == f"GET /version: {words}"


@pytest.mark.parametrize("after_processing", [False, True], ids=["before", "after-processing"])
def test_a_connection_reset_is_retryable_unavailability_that_reads_plainly(
    cluster: Cluster, after_processing: bool
) -> None:
    # Given an API server (or what stands in front of it) that resets the connection of GET /version,
    # before or after the server answered it
    cluster.kube.clear_requests()
    cluster.kube.inject_connection_reset(
        method="GET", path_pattern=r"^/version$", times=1, after_processing=after_processing
    )
    # When we ask for the version, Then it is KubeApiUnavailable saying what happened, not urllib3's wrapper
    with pytest.raises(KubeApiUnavailable) as error:
        cluster_api(aws_client("secretsmanager"), cluster.kubeconfig_secret_arn)
    assert str(error.value) in {
        "GET /version: API server reset the connection before answering",
        "GET /version: API server closed the connection before answering",  # what TLS clients see of the RST
    }
    # And the request was journaled as reset (with the answer the client never saw); the next one is served
    unseen = 200 if after_processing else None
    assert [(r.path, r.status, r.reset) for r in cluster.kube.requests] == [("/version", unseen, True)]
    cluster_api(aws_client("secretsmanager"), cluster.kubeconfig_secret_arn)
    assert cluster.kube.requests[-1].status == 200


def test_authenticator_token_is_a_presigned_get_caller_identity_url_bound_to_the_cluster(
    aws_account: None,
) -> None:
    # Given an STS client and the authenticator's cluster id
    sts = aws_client("sts")
    # When we mint a token
    token = authenticator_token(sts, "prod.k8s.local")
    # Then it is k8s-aws-v1. + unpadded base64url of a presigned STS GetCallerIdentity URL
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    assert "=" not in encoded
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.scheme == "https"
    assert parsed.hostname in {"sts.amazonaws.com", f"sts.{REGION}.amazonaws.com"}
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    assert "x-k8s-aws-id" in signed and "host" in signed
    # And the cluster id is a signed header, not a query parameter
    assert "x-k8s-aws-id" not in query
    # And an ordinary call on the same client is unaffected by the registration
    assert sts.get_caller_identity()["Account"]


def test_tokens_name_aws_regional_sts_host_even_when_the_clients_point_at_a_local_endpoint(
    aws_account: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Lambda whose SDK clients are pointed at a local endpoint (as in the local system)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    token_sts_client.cache_clear()
    # When it mints a token with the token STS client
    token = authenticator_token(token_sts_client(REGION), "prod.k8s.local")
    # Then the presigned URL names AWS's regional STS host over https, the only kind the authenticator accepts
    encoded = token.removeprefix("k8s-aws-v1.")
    url = urlparse(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    assert (url.scheme, url.netloc, url.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    token_sts_client.cache_clear()


def test_the_retries_and_pool_size_asked_for_reach_the_connection_pool(cluster: Cluster) -> None:
    # Given the cluster's kubeconfig and a retry policy of our own
    text = aws_client("secretsmanager").get_secret_value(SecretId=cluster.kubeconfig_secret_arn)["SecretString"]
    retries = urllib3.Retry(total=7, connect=7, read=0)
    # When a client is built with it and a pool of 48 connections
    with api_client(yaml.safe_load(text), retries=retries, connections=48) as api:
        pool_args = api.pool_settings
        # Then the pool the requests go through uses both (set after the client exists, they would not)
        assert pool_args["retries"] is retries
        assert pool_args["maxsize"] == 48


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("users", "exec", {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws-iam-authenticator"}),
        ("users", "client-key", "/etc/kubernetes/admin.key"),
        ("clusters", "insecure-skip-tls-verify", True),
    ],
    ids=["exec", "client-key", "insecure-skip-tls-verify"],
)
def test_an_unsafe_kubeconfig_secret_is_refused_before_the_server_sees_a_request(
    cluster: Cluster, section: str, field: str, value: object
) -> None:
    # Given the cluster's working kubeconfig secret with one refused field added
    sm = aws_client("secretsmanager")
    document = yaml.safe_load(sm.get_secret_value(SecretId=cluster.kubeconfig_secret_arn)["SecretString"])
    arn = sm.create_secret(
        Name=f"kops-onboard/clusters/{cluster.name}/unsafe-{field}",
        SecretString=as_text(with_field(document, section, field, value)),
    )["ARN"]
    cluster.kube.clear_requests()
    # When a step builds its client from it
    with pytest.raises(UnsafeKubeconfig) as raised:
        cluster_api(sm, arn)
    # Then the error names the secret and the field, not the token, and the API server saw nothing
    assert arn in str(raised.value) and field in str(raised.value) and TOKEN not in str(raised.value)
    assert cluster.kube.requests == []


def test_https_with_the_ca_and_a_client_certificate_reaches_the_real_api_server(
    aws_account: None, pytestconfig: pytest.Config
) -> None:
    # Given a real API server over TLS and its kubeconfig (token user) plus a client certificate of 6 hours
    server = start_kube(pytestconfig, name="tls-cert", tokens=[TOKEN], tls=True, kube="real")
    try:
        not_after = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
        document = with_client_certificate(yaml.safe_load(server.kubeconfig(TOKEN)), not_after=not_after)
        sm = aws_client("secretsmanager")
        arn = sm.create_secret(Name="kops-onboard/clusters/tls-cert/kubeconfig", SecretString=as_text(document))["ARN"]
        # When a client is built from the secret (only its vetted fields: server, CA data, token, certificate)
        with cluster_api(sm, arn) as api:
            # Then TLS verifies against the kubeconfig's CA and the server answers as itself
            assert check_access(api).startswith("v1.")
        # And the certificate's lifetime is what onboarding reports, with its warning
        found = admin_kubeconfig(load_kubeconfig(sm, arn), now=datetime.now(UTC))
        assert found.expires_at == not_after and found.warning
    finally:
        server.stop()


def test_an_expired_client_certificate_is_kubeconfig_expired_before_any_request(cluster: Cluster) -> None:
    # Given the cluster's kubeconfig with a client certificate that expired a minute ago
    sm = aws_client("secretsmanager")
    document = yaml.safe_load(sm.get_secret_value(SecretId=cluster.kubeconfig_secret_arn)["SecretString"])
    expired = with_client_certificate(document, not_after=datetime.now(UTC) - timedelta(minutes=1))
    arn = sm.create_secret(Name=f"kops-onboard/clusters/{cluster.name}/expired", SecretString=as_text(expired))["ARN"]
    cluster.kube.clear_requests()
    # When / Then
    with pytest.raises(KubeconfigExpired, match="expired at"):
        cluster_api(sm, arn)
    assert cluster.kube.requests == []
