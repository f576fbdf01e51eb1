"""The official Kubernetes client as an independent judge of an identity our transport carries.

The product talks to clusters through its own transport (adapters/kube.KubeClient); tests check what that
identity may do with the official client, built from the same server, token and TLS material, so an assertion
about the identity never depends on the transport under test.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.adapters.pem_files import pem_file


def typed(api: KubeClient) -> k8s.ApiClient:
    """An official client that is the same identity as `api`, at the same server."""
    configuration = k8s.Configuration(host=api.server)
    if api.token is not None:
        configuration.api_key = {"BearerToken": api.token.current()}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    settings = api.pool_settings
    if "ca_cert_data" in settings:
        configuration.ssl_ca_cert = pem_file(str(settings["ca_cert_data"]).encode())
    if "cert_file" in settings:
        configuration.cert_file = settings["cert_file"]
        configuration.key_file = settings["key_file"]
    if "server_hostname" in settings:
        configuration.tls_server_name = settings["server_hostname"]
    return k8s.ApiClient(configuration)


class ImpersonatingClient(KubeClient):
    """Our transport with the admin's token, impersonating one user and group (the test proxy forwards the
    headers): the product's own requests, authorized as that identity by the real server."""

    def __init__(self, server: str, *, user: str, group: str, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._impersonate = {"Impersonate-User": user, "Impersonate-Group": group}

    def request(self, method: str, path: str, *, body: bytes | None, headers: dict[str, str], timeout: Any) -> bytes:
        return super().request(method, path, body=body, headers=headers | self._impersonate, timeout=timeout)
