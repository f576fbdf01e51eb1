"""Kubeconfig hardening: every field that would run a command, read a file or skip TLS verification is refused,
in any entry, before a client exists; clients are built from the vetted fields; the client certificate's
lifetime is read for the admin kubeconfig warning."""

import base64
import logging
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kops_lambda.adapters.kubeconfig import api_client, cluster_endpoint, load_kubeconfig, vet_kubeconfig
from kops_lambda.errors import ClusterAccessError, KubeconfigExpired, UnsafeKubeconfig
from kops_lambda.logic.cluster.access import admin_kubeconfig
from kops_local.seed.access import token_kubeconfig
from tests.kubeconfigs import as_text, client_certificate, with_client_certificate, with_field

SECRET = "sk-kubeconfig-secret-4b1d9c7e0a2f"
CLUSTER = "vet.k8s.local"
SERVER = "https://api.vet.k8s.local:6443"
CA_PEM, _ = client_certificate(not_after=datetime.now(UTC) + timedelta(days=365), name="kubernetes-ca")


def kubeconfig(server: str = SERVER) -> dict[str, Any]:
    """What the local system seeds: one cluster with its CA, one token user, the current context."""
    return token_kubeconfig(cluster_name=CLUSTER, kube_api_url=server, token=SECRET, ca_certificate=CA_PEM.decode())


USER = f"user 'kops-onboard@{CLUSTER}'"
CLUSTER_ENTRY = f"cluster '{CLUSTER}'"

# (section, field, value, the entry the error must name)
REFUSED = [
    pytest.param(
        "users",
        "exec",
        {"apiVersion": "client.authentication.k8s.io/v1", "command": "sh", "env": [{"name": "T", "value": SECRET}]},
        USER,
        id="exec",
    ),
    pytest.param(
        "users",
        "auth-provider",
        {"name": "oidc", "config": {"id-token": SECRET, "idp-certificate-authority": "/etc/ca.pem"}},
        USER,
        id="auth-provider",
    ),
    pytest.param("users", "client-certificate", "/etc/kops/admin.crt", USER, id="client-certificate"),
    pytest.param("users", "client-key", "/etc/kops/admin.key", USER, id="client-key"),
    pytest.param("users", "tokenFile", "/var/run/secrets/token", USER, id="tokenFile"),
    pytest.param("users", "token-file", "/var/run/secrets/token", USER, id="token-file"),
    pytest.param("users", "password-file", "/etc/kops/password", USER, id="any-dash-file"),
    pytest.param(
        "clusters", "certificate-authority", "/etc/kubernetes/ca.crt", CLUSTER_ENTRY, id="certificate-authority"
    ),
    pytest.param("clusters", "proxyCAFile", "/etc/proxy-ca.pem", CLUSTER_ENTRY, id="any-camel-File"),
    pytest.param("clusters", "insecure-skip-tls-verify", True, CLUSTER_ENTRY, id="insecure-skip-tls-verify"),
    # The library reads any truthy value as "skip": a string "false" would turn verification off.
    pytest.param("clusters", "insecure-skip-tls-verify", "false", CLUSTER_ENTRY, id="insecure-skip-tls-verify-string"),
    pytest.param("contexts", "namespace-file", "/etc/namespace", f"context '{CLUSTER}'", id="context-file"),
]


@pytest.mark.parametrize(("section", "field", "value", "entry"), REFUSED)
def test_each_refused_field_is_an_unsafe_kubeconfig_naming_it_and_its_entry(
    section: str, field: str, value: Any, entry: str
) -> None:
    # Given a working kubeconfig with one refused field
    document = with_field(kubeconfig(), section, field, value)
    # When a client is asked for
    with pytest.raises(UnsafeKubeconfig) as raised:
        api_client(document)
    # Then the error names the field and the entry, never a value of the document
    message = str(raised.value)
    assert field in message and entry in message
    assert SECRET not in message and (not isinstance(value, str) or value not in message)
    # And it is a ClusterAccessError: every Catch and handler treating that as permanent still does
    assert isinstance(raised.value, ClusterAccessError)


def test_a_refused_field_in_an_entry_the_current_context_does_not_use_is_refused_too() -> None:
    # Given a second user, unused, that runs a command
    document = kubeconfig()
    document["users"].append({"name": "spare", "user": {"exec": {"command": "sh"}}})
    # When / Then the whole document is vetted, not only the current context
    with pytest.raises(UnsafeKubeconfig, match="user 'spare' sets exec"):
        vet_kubeconfig(document)


def test_an_https_server_without_a_ca_is_refused() -> None:
    document = kubeconfig()
    del document["clusters"][0]["cluster"]["certificate-authority-data"]
    with pytest.raises(UnsafeKubeconfig, match=f"{CLUSTER_ENTRY} has an https server without certificate-authority"):
        api_client(document)


def test_an_exec_command_never_runs_and_a_token_file_is_never_read(tmp_path: Path) -> None:
    # Given a kubeconfig whose exec plugin would create a file, and one whose token is a file
    marker = tmp_path / "exec-ran"
    token_file = tmp_path / "token"
    token_file.write_text("file-token-" + SECRET)
    runs = with_field(kubeconfig(), "users", "exec", {"command": "sh", "args": ["-c", f"touch {marker}"]})
    reads = with_field(kubeconfig(), "users", "tokenFile", str(token_file))
    # When clients are asked for (the library's loader would run the command and read the file here)
    for document in (runs, reads):
        with pytest.raises(UnsafeKubeconfig) as raised:
            api_client(document)
        assert str(token_file) not in str(raised.value) and str(marker) not in str(raised.value)
    # Then nothing ran
    assert not marker.exists()


def test_the_secret_never_shows_in_the_error_or_in_logs(aws: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Given a kubeconfig secret whose exec plugin would print the token to stderr and fail (the library's loader
    # logs such a failure with the plugin's stderr)
    sm = aws("secretsmanager")
    plugin = {"command": "sh", "args": ["-c", f"echo {SECRET} >&2; exit 1"], "env": [{"name": "T", "value": SECRET}]}
    document = with_field(kubeconfig(), "users", "exec", plugin)
    arn = sm.create_secret(Name=f"kops-onboard/clusters/{CLUSTER}/kubeconfig", SecretString=as_text(document))["ARN"]
    # Every logger at DEBUG but botocore's wire log, which prints any response body (AWS's own, not ours)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")
    # When it is loaded, and a client is asked for
    messages = []
    for attempt in (lambda: load_kubeconfig(sm, arn), lambda: api_client(document)):
        with pytest.raises(UnsafeKubeconfig) as raised:
            attempt()
        messages += [str(raised.value), repr(raised.value)]
    # Then the errors name the secret and the field; neither they nor any log record hold the value
    assert arn in messages[0] and all("exec" in message for message in messages)
    assert not [message for message in messages if SECRET in message]
    assert SECRET not in caplog.text


def test_the_seeded_kubeconfigs_pass_and_the_client_uses_only_their_vetted_fields() -> None:
    # Given the kubeconfigs the local system seeds (https with its CA; http without one)
    for document, server in ((kubeconfig(), SERVER), (kubeconfig("http://127.0.0.1:8001"), "http://127.0.0.1:8001")):
        # When a client is built
        with api_client(document) as api:
            # Then it talks to the server with the token, verifying TLS against the kubeconfig's CA
            assert api.server == server
            assert api.token is not None and api.token.current() == SECRET
            if server.startswith("https"):
                assert api.pool_settings["cert_reqs"] == "CERT_REQUIRED"
                assert api.pool_settings["ca_cert_data"].encode() == CA_PEM
            else:
                assert "ca_cert_data" not in api.pool_settings
    # And `insecure-skip-tls-verify: false` is accepted
    vet_kubeconfig(with_field(kubeconfig(), "clusters", "insecure-skip-tls-verify", False))


def test_a_client_certificate_reaches_the_connection_pool_from_files_of_our_own() -> None:
    # Given a kubeconfig with a client certificate
    not_after = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    document = with_client_certificate(kubeconfig(), not_after=not_after)
    user = document["users"][0]["user"]
    # When a client is built
    with api_client(document) as api:
        pool = api.pool_settings
        # Then the pool presents that certificate and key, from files only this process can read
        assert Path(pool["cert_file"]).read_bytes() == base64.b64decode(user["client-certificate-data"])
        assert Path(pool["key_file"]).read_bytes() == base64.b64decode(user["client-key-data"])
        assert stat.S_IMODE(os.stat(pool["key_file"]).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(pool["key_file"]).parent).st_mode) == 0o700


def test_a_short_lived_client_certificate_warns_that_offboarding_will_need_a_fresh_one() -> None:
    now = datetime.now(UTC)
    not_after = (now + timedelta(hours=6)).replace(microsecond=0)
    found = admin_kubeconfig(with_client_certificate(kubeconfig(), not_after=not_after), now=now)
    assert found.credential == "client-certificate" and found.expires_at == not_after
    assert found.warning is not None
    assert not_after.isoformat() in found.warning and "offboarding will need a fresh" in found.warning


def test_a_long_lived_client_certificate_gives_its_expiry_without_a_warning() -> None:
    now = datetime.now(UTC)
    not_after = (now + timedelta(days=400)).replace(microsecond=0)
    found = admin_kubeconfig(with_client_certificate(kubeconfig(), not_after=not_after), now=now)
    assert (found.credential, found.expires_at, found.warning) == ("client-certificate", not_after, None)


def test_a_bearer_token_has_no_expiry_known() -> None:
    found = admin_kubeconfig(kubeconfig(), now=datetime.now(UTC))
    assert (found.credential, found.expires_at, found.warning) == ("token", None, None)


def test_an_expired_client_certificate_is_refused_before_any_connection() -> None:
    # Given a kubeconfig whose client certificate expired an hour ago
    expired = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    document = with_client_certificate(kubeconfig(), not_after=expired)
    # When / Then: a typed error with the expiry and the user, never the key
    with pytest.raises(KubeconfigExpired) as raised:
        api_client(document)
    assert expired.isoformat() in str(raised.value) and USER.removeprefix("user ") in str(raised.value)
    assert document["users"][0]["user"]["client-key-data"][:40] not in str(raised.value)


def test_client_certificate_data_that_is_no_certificate_is_a_cluster_access_error() -> None:
    document = with_client_certificate(kubeconfig(), not_after=datetime.now(UTC) + timedelta(days=1))
    document["users"][0]["user"]["client-certificate-data"] = base64.b64encode(b"not a certificate").decode()
    with pytest.raises(ClusterAccessError, match="client-certificate-data that is no PEM certificate"):
        vet_kubeconfig(document)


def test_the_endpoint_is_the_current_contexts_with_its_inline_ca() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    other_ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n").decode()
    kubeconfig = {
        "clusters": [
            {"name": "other", "cluster": {"server": "https://other:443", "certificate-authority-data": other_ca}},
            {
                "name": "mine",
                "cluster": {
                    "server": "https://api.mine:443",
                    "certificate-authority-data": base64.b64encode(pem.encode()).decode(),
                },
            },
        ],
        "contexts": [{"name": "a", "context": {"cluster": "other"}}, {"name": "b", "context": {"cluster": "mine"}}],
        "current-context": "b",
    }
    endpoint = cluster_endpoint(kubeconfig)
    assert (endpoint.server, endpoint.ca_pem) == ("https://api.mine:443", pem)
    with pytest.raises(ClusterAccessError, match="no server"):
        cluster_endpoint({**kubeconfig, "clusters": [{"name": "mine", "cluster": {}}]})
    broken = {"name": "mine", "cluster": {"server": "https://x", "certificate-authority-data": "not base64!"}}
    with pytest.raises(ClusterAccessError, match="not base64"):
        cluster_endpoint({**kubeconfig, "clusters": [broken]})
