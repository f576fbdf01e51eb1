"""The HTTP front: authentication, injected faults, request journal, discovery, TLS, lifecycle."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator
from tests.emulator.conftest import TOKEN, client_for


@pytest.mark.parametrize("token", [None, "wrong"])
def test_requests_without_a_valid_token_are_unauthorized(emulator: KubeApiEmulator, token: str | None) -> None:
    # Given a client without the token, or with a wrong one
    with client_for(emulator.url, token=token) as api:
        # When it lists namespaces or reads discovery
        for call in (client.CoreV1Api(api).list_namespace, client.CoreApi(api).get_api_versions):
            with pytest.raises(ApiException) as error:
                call()
            # Then both are 401 with an Unauthorized Status
            assert error.value.status == 401
            assert json.loads(error.value.body)["reason"] == "Unauthorized"


def test_without_tokens_everything_is_allowed() -> None:
    # Given an emulator without tokens
    with KubeApiEmulator() as emulator, client_for(emulator.url, token=None) as api:
        # When an anonymous client lists namespaces, then it is served
        assert len(client.CoreV1Api(api).list_namespace().items) == 4


def test_injected_fault_answers_first_then_normal_service(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given two 503s injected for ConfigMap creation
    emulator.inject_fault(method="POST", path_pattern=r"/configmaps$", status=503, times=2)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    # When the client tries three times
    failures = []
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            core.create_namespaced_config_map("default", body)
        failures.append(error.value)
    created = core.create_namespaced_config_map("default", body)
    # Then the first two got the fault as a Status without touching state, the third created the object
    assert [(f.status, json.loads(f.body)["reason"]) for f in failures] == [(503, "ServiceUnavailable")] * 2
    assert created.metadata.name == "c"
    assert [r.status for r in emulator.requests] == [503, 503, 201]


def test_injected_throttling_has_retry_after_and_custom_bodies(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a 429 for any method on nodes, and a custom body for the next GET of namespaces
    emulator.inject_fault(method="*", path_pattern=r"^/api/v1/nodes", status=429)
    emulator.inject_fault(method="GET", path_pattern="/namespaces", status=500, body={"custom": True})
    # When both are hit
    with pytest.raises(ApiException) as throttled:
        core.list_node()
    with pytest.raises(ApiException) as custom:
        core.list_namespace()
    # Then the 429 reaches the caller (no Retry-After header, so urllib3 does not retry it silently) with
    # retryAfterSeconds in its Status, and the custom body is sent as is
    assert throttled.value.status == 429
    assert json.loads(throttled.value.body)["details"] == {"retryAfterSeconds": 1}
    assert "Retry-After" not in throttled.value.headers
    assert json.loads(custom.value.body) == {"custom": True}
    assert [r.status for r in emulator.requests] == [429, 500]


def test_injected_delay_simulates_a_slow_server(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a 504 answered after 0.3 s
    emulator.inject_fault(method="GET", path_pattern="/namespaces", status=504, delay=0.3)
    # When the client asks
    started = time.monotonic()
    with pytest.raises(ApiException) as error:
        core.list_namespace()
    # Then the answer came late, as a Timeout Status
    assert time.monotonic() - started >= 0.3
    assert json.loads(error.value.body)["reason"] == "Timeout"


def test_injected_connection_reset_closes_the_connection_without_an_answer(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a reset for the next two creations of a ConfigMap
    emulator.inject_connection_reset(method="POST", path_pattern=r"/configmaps$", times=2)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    # When the client tries three times
    resets = []
    for _ in range(2):
        with pytest.raises(urllib3.exceptions.HTTPError) as error:
            core.create_namespaced_config_map("default", body)
        resets.append(error.value)
    created = core.create_namespaced_config_map("default", body)
    # Then the first two got no HTTP response at all (the peer reset the TCP connection), state untouched,
    # and the third created the object
    for reset in resets:
        cause = reset.reason if isinstance(reset, urllib3.exceptions.MaxRetryError) else reset
        assert isinstance(cause, urllib3.exceptions.ProtocolError), repr(reset)
        assert isinstance(cause.args[1], ConnectionResetError), repr(cause)
    assert created.metadata.name == "c"
    assert [(r.status, r.reset) for r in emulator.requests] == [(None, True), (None, True), (201, False)]


def test_a_connection_reset_after_processing_keeps_the_change_and_loses_the_answer(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a reset of the next ConfigMap creation once the server has made it
    emulator.inject_connection_reset(method="POST", path_pattern=r"/configmaps$", after_processing=True)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    # When the client creates it, then again
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.create_namespaced_config_map("default", body)
    with pytest.raises(ApiException) as again:
        core.create_namespaced_config_map("default", body)
    # Then the first made the object though its answer was lost, so the second finds it there
    assert again.value.status == 409
    assert emulator.store.get("v1/configmaps", "default", "c") is not None
    assert [(r.status, r.reset) for r in emulator.requests] == [(201, True), (409, False)]


def test_request_journal_records_what_was_asked(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # When a list with a selector and a create are made
    core.list_namespaced_pod("default", label_selector="app=web")
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    # Then both are journaled with method, path, query, content type, parsed body and status
    listed, created = emulator.requests
    assert (listed.method, listed.path, listed.query, listed.status) == (
        "GET",
        "/api/v1/namespaces/default/pods",
        {"labelSelector": "app=web"},
        200,
    )
    assert (created.method, created.content_type, created.body["metadata"], created.status) == (
        "POST",
        "application/json",
        {"name": "c"},
        201,
    )
    # And clear_requests empties the journal
    emulator.clear_requests()
    assert emulator.requests == []


def test_protobuf_bodies_are_unsupported_media_type(emulator: KubeApiEmulator) -> None:
    # When a body arrives as protobuf (what kubectl's typed generators send)
    response = urllib3.request(
        "POST",
        f"{emulator.url}/api/v1/namespaces",
        body=b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    # Then it is a 415 Status (the emulator speaks JSON only), not a 400 or a crash
    assert response.status == 415
    assert json.loads(response.data)["reason"] == "UnsupportedMediaType"


def test_discovery_documents(api: client.ApiClient) -> None:
    # When the discovery endpoints are read through the official client
    versions = client.CoreApi(api).get_api_versions()
    groups = client.ApisApi(api).get_api_versions()
    core_resources = client.CoreV1Api(api).get_api_resources()
    apps_resources = client.AppsV1Api(api).get_api_resources()
    version = client.VersionApi(api).get_code()
    # Then they have the real shapes
    assert versions.versions == ["v1"]
    group_names = {g.name for g in groups.groups}
    assert {
        "apps",
        "policy",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
    } <= group_names
    by_name = {r.name: r for r in core_resources.resources}
    assert (by_name["nodes"].namespaced, by_name["pods"].namespaced) == (False, True)
    assert by_name["pods"].short_names == ["po"]
    eviction = by_name["pods/eviction"]
    assert (eviction.group, eviction.version, eviction.kind, eviction.verbs) == (
        "policy",
        "v1",
        "Eviction",
        ["create"],
    )
    assert by_name["pods/status"].verbs == ["get", "patch", "update"]
    assert {r.name for r in apps_resources.resources} >= {
        "deployments",
        "daemonsets",
        "replicasets",
        "statefulsets",
    }
    assert (version.major, version.minor) == ("1", "32")


def test_tls_serves_the_python_client_with_the_generated_ca(tmp_path: Path) -> None:
    # Given an emulator serving https
    with KubeApiEmulator(tokens=[TOKEN], tls=True) as emulator:
        ca_file = tmp_path / "ca.crt"
        ca_file.write_text(emulator.ca_certificate or "")
        # When the official client trusts the emulator's CA
        with client_for(emulator.url, ca_file=str(ca_file)) as api:
            namespaces = client.CoreV1Api(api).list_namespace()
        # Then it is served over https
        assert emulator.url.startswith("https://127.0.0.1:")
        assert len(namespaces.items) == 4


def test_stop_is_idempotent_and_emulators_stop_in_any_order() -> None:
    # Given two running emulators (the case kmock.Server cannot handle)
    first, second = KubeApiEmulator(name="a"), KubeApiEmulator(name="b")
    first.start()
    second.start()
    first.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}})
    url = first.url
    # When they stop in start order, twice
    first.stop()
    second.stop()
    first.stop()
    # Then a restarted emulator serves the same state at the same URL (stored kubeconfigs name it)
    assert first.start() == url
    with client_for(url, token=None) as api:
        assert client.CoreV1Api(api).read_namespaced_config_map("kept", "default").metadata.name == "kept"
    first.stop()
    with pytest.raises(RuntimeError):
        _ = first.url
