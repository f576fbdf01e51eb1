"""The secret scan (tests/e2e/secret_scan.py) finds what it should; the `local_system` fixture runs it over
everything at teardown. Here: it has needles to look for after an onboarding, and a planted leak is found."""

import base64
import json

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from kops_onboard.executions import run_execution
from tests.e2e import spot_support as support
from tests.e2e.secret_scan import haystack, leaks, secret_values, session_secrets


def test_after_an_onboarding_the_scan_has_secrets_to_look_for_and_finds_none(local_system: LocalSystem) -> None:
    # Given an onboarding that stored an access key, a private key and the agent's Secret
    support.onboard(local_system, "scan.k8s.local:kops=1.20,nodes=1")
    # Then the scan has real needles (a 40-character secret access key among them) and many texts
    needles, texts = secret_values(local_system), haystack(local_system)
    assert any(len(n) == 40 for n in needles), "no access key secret was created: nothing was scanned"
    # (the Lambda containers' execution-role sessions among them)
    assert session_secrets() and session_secrets() <= needles
    assert len(texts) > 10
    # And none of them appears anywhere
    assert leaks(needles, texts) == []


def test_a_planted_secret_is_found_and_reported_without_its_value(local_system: LocalSystem) -> None:
    needles = sorted(secret_values(local_system))
    planted = needles[0]
    found = leaks(needles, [*haystack(local_system), f"a log line with {planted} in it"])
    assert [label for label, _ in found] == [planted[:6] + "…"]
    assert all(planted not in label for label, _ in found)


def test_a_planted_authenticator_token_is_found_whoever_minted_it(local_system: LocalSystem) -> None:
    # Given a token presigned with the local clients' credentials (not a stored secret)
    token = authenticator_token(local_system.aws.client("sts"), "scan.k8s.local")
    # When it is in a log line
    found = leaks([], [*haystack(local_system), f"drainer token {token}"])
    # Then the scan reports it, by its prefix only
    assert [label for label, _ in found] == ["k8s-aws-v1.…"]


def test_the_vendor_service_account_token_is_a_needle(local_system: LocalSystem) -> None:
    # Given a cluster without the authenticator (real kube-apiserver) onboarded in service-account mode
    cluster = local_system.add_cluster(ClusterSpec.parse("scan-sa.k8s.local:kops=1.21,auth=none,nodes=1"), kube="real")
    result = run_execution(
        local_system.aws.client("stepfunctions"),
        local_system.state_machines["onboard"],
        cluster.onboard_input(),
        name_prefix="e2e-scan-sa",
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output is not None
    sm = local_system.aws.client("secretsmanager")
    stored = sm.get_secret_value(SecretId=result.output["identity_mapping"]["kubeconfig_secret_arn"])["SecretString"]
    token = json.loads(stored)["users"][0]["user"]["token"]
    token_secret = cluster.api_server.store.get("v1/secrets", "kube-system", f"cast-kops-{cluster.name}-token")
    assert token_secret is not None
    # Then the scan looks for that token, both as Secrets Manager holds it and as the cluster's token Secret does
    needles = secret_values(local_system)
    assert token in needles
    assert base64.b64decode(token_secret["data"]["token"]).decode() == token
    # And a leak of it is found
    assert leaks([token], [f"a log line with {token}"]) == [(token[:6] + "…", 0)]
    assert leaks(needles, haystack(local_system)) == []
