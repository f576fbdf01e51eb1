"""Fixtures: a started emulator (fresh per test, it starts in milliseconds) and official clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kops_local.kube import KubeApiEmulator

TOKEN = "test-token"


def client_for(url: str, token: str | None = TOKEN, ca_file: str | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    if token is not None:
        # kubernetes>=36 looks up "BearerToken"; the legacy "authorization" key loses its prefix.
        configuration.api_key = {"BearerToken": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    if ca_file is not None:
        configuration.ssl_ca_cert = ca_file
    return client.ApiClient(configuration)


def stored(emulator: KubeApiEmulator, ref: str, namespace: str | None, name: str) -> dict[str, Any]:
    """The stored object, which must exist."""
    obj = emulator.store.get(ref, namespace, name)
    assert obj is not None, f"{ref} {namespace}/{name} is not in the store"
    return obj


@pytest.fixture
def emulator() -> Iterator[KubeApiEmulator]:
    emulator = KubeApiEmulator(tokens=[TOKEN], name="test")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def api(emulator: KubeApiEmulator) -> Iterator[client.ApiClient]:
    api_client = client_for(emulator.url)
    yield api_client
    api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def policy(api: client.ApiClient) -> client.PolicyV1Api:
    return client.PolicyV1Api(api)


@pytest.fixture
def rbac(api: client.ApiClient) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api)
