"""Cluster access from the kubeconfig secret, with typed errors, and the authenticator's token format."""

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest
import urllib3
import yaml

from kops_lambda.adapters.aws import token_sts_client
from kops_lambda.adapters.kube import api_client
from kops_lambda.errors import ClusterAccessError, KubeApiUnavailable
from kops_lambda.logic.cluster.access import authenticator_token, check_access, cluster_api
from kops_onboard.local.kube import KubeApiEmulator

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
        pool_args = api.rest_client.pool_manager.connection_pool_kw
        # Then the pool the requests go through uses both (set after the client exists, they would not)
        assert pool_args["retries"] is retries
        assert pool_args["maxsize"] == 48
