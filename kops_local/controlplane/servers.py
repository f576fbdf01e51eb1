"""etcd, kube-apiserver and kube-controller-manager on loopback, as real servers of our tests and local runs.

One etcd serves a whole process; each cluster gets its own kube-apiserver and kube-controller-manager on
its own etcd key prefix, so clusters never see each other's objects and a stopped cluster's keys are deleted.
A control plane can be `reset()` to its freshly started state, so a pool can reuse it for the next cluster
(about 0.3 s instead of 2 to 3 s of CPU-heavy apiserver start on 2 cores).

The apiserver: TLS with a throwaway CA, `--authorization-mode=RBAC`, a token file for the admin identity,
service-account issuer and keys (real TokenRequest tokens), and if asked a token webhook on a port of its own
where the cluster's aws-iam-authenticator listens while the cluster has one (`authenticator.py`). The ServiceAccount
admission plugin is off because no kubelet mounts tokens here. The controller-manager runs the controllers
whose behaviour the product relies on (disruption for PDB status, deployment/replicaset to recreate evicted
pods, garbage collector, namespace, serviceaccount and its tokens, the root CA ConfigMap, resourcequota
because quota admission refuses pods until the controller has computed a quota's status); node-lifecycle and
pod-GC are left out since they would evict or delete the pods of nodes that have no kubelet.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kops_local.controlplane.authenticator import WebhookEndpoint, prepare_webhook
from kops_local.controlplane.binaries import Binaries, ControlPlaneUnavailable
from kops_local.controlplane.process import Component, free_port
from kops_local.kube.tls import issue_certificate

_ETCD_START_SECONDS = 30.0
_APISERVER_START_SECONDS = 90.0
_CONTROLLERS_START_SECONDS = 60.0
_SERVICE_CIDR = "10.96.0.0/16"
CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "disruption-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "resourcequota-controller",
)
ADMIN_USER = "kops-onboard-admin"


def _api_groups(url: str, *, token: str, ca: str) -> set[str]:
    return {group["name"] for group in _http_json(f"{url}/apis", token=token, ca=ca)["groups"]}


def _http_json(
    url: str, *, method: str = "GET", body: Any = None, token: str | None = None, ca: str | None = None
) -> Any:
    context = ssl.create_default_context(cadata=ca) if ca else None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback URLs we built)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
        payload = response.read()
    return json.loads(payload) if payload.strip().startswith((b"{", b"[")) else payload.decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """One etcd 3.6 with its data in a temp dir (no fsync: test data), client URL on loopback."""

    def __init__(self, binaries: Binaries, *, workdir: Path) -> None:
        self._workdir = workdir
        client, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._component = Component(
            "etcd",
            [
                binaries.path("etcd"),
                f"--data-dir={workdir / 'etcd-data'}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log_dir=workdir,
        )

    def start(self) -> None:
        self._component.start()
        self._component.wait_until(
            lambda: _http_json(f"{self.url}/health").get("health") == "true",
            timeout=_ETCD_START_SECONDS,
            what="healthy",
        )

    @staticmethod
    def _range(prefix: str) -> dict[str, str]:
        start = prefix.encode()
        end = start[:-1] + bytes([start[-1] + 1])
        return {"key": base64.b64encode(start).decode(), "range_end": base64.b64encode(end).decode()}

    def keys(self, prefix: str) -> set[str]:
        """Every key under `prefix` (the v3 JSON gateway: keys travel base64-encoded)."""
        found = _http_json(f"{self.url}/v3/kv/range", method="POST", body=self._range(prefix) | {"keys_only": True})
        return {base64.b64decode(kv["key"]).decode() for kv in found.get("kvs", [])}

    def delete_keys(self, keys: set[str]) -> None:
        for key in sorted(keys):
            _http_json(f"{self.url}/v3/kv/deleterange", method="POST", body={"key": _b64(key)})

    def delete_prefix(self, prefix: str) -> None:
        _http_json(f"{self.url}/v3/kv/deleterange", method="POST", body=self._range(prefix))

    @property
    def running(self) -> bool:
        return self._component.running

    def stop(self) -> None:
        self._component.stop()


@dataclass
class ClusterCredentials:
    """What clients need: the server URL, the CA that signed its certificate and the admin token."""

    url: str
    ca_pem: str
    admin_token: str
    extra: dict[str, str] = field(default_factory=dict)

    def kubeconfig(self, name: str, token: str | None = None) -> str:
        cluster = {"server": self.url, "certificate-authority-data": _b64(self.ca_pem)}
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": name, "cluster": cluster}],
                "users": [{"name": name, "user": {"token": token or self.admin_token}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                "current-context": name,
            },
            indent=2,
        )


class KubeControlPlane:
    """kube-apiserver + kube-controller-manager for one cluster, on a key prefix of a shared etcd."""

    def __init__(self, binaries: Binaries, etcd: Etcd, *, name: str, webhook: bool = False) -> None:
        """`webhook`: the apiserver gets a token webhook (`authenticator.py`) on a port of its own."""
        self.name = name
        self._with_webhook = webhook
        self._binaries = binaries
        self._etcd = etcd
        self._workdir = Path(tempfile.mkdtemp(prefix="kops-onboard-kube-"))
        self._prefix = f"/kops-onboard/{secrets.token_hex(6)}"
        self._apiserver: Component | None = None
        self._controllers: Component | None = None
        self._baseline: set[str] = set()
        self._baseline_groups: set[str] = set()
        self.credentials: ClusterCredentials | None = None
        self.webhook: WebhookEndpoint | None = None
        self.startup_seconds: dict[str, float] = {}

    def start(self) -> ClusterCredentials:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> ClusterCredentials:
        workdir = self._workdir
        port = free_port()
        url = f"https://127.0.0.1:{port}"
        certificate = issue_certificate("127.0.0.1", self.name)
        (workdir / "ca.crt").write_text(certificate.ca_pem)
        (workdir / "tls.crt").write_text(certificate.cert_pem)
        (workdir / "tls.key").write_text(certificate.key_pem)
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (workdir / "sa.key").write_bytes(
            sa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (workdir / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        admin_token = secrets.token_urlsafe(24)
        (workdir / "tokens.csv").write_text(f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        credentials = ClusterCredentials(url, certificate.ca_pem, admin_token)
        (workdir / "admin.kubeconfig").write_text(credentials.kubeconfig(self.name))
        self.webhook = prepare_webhook(workdir, self.name) if self._with_webhook else None

        apiserver = Component(
            "kube-apiserver",
            [
                self._binaries.path("kube-apiserver"),
                f"--etcd-servers={self._etcd.url}",
                f"--etcd-prefix={self._prefix}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={workdir / 'tls.crt'}",
                f"--tls-private-key-file={workdir / 'tls.key'}",
                f"--token-auth-file={workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={workdir / 'sa.pub'}",
                f"--service-account-signing-key-file={workdir / 'sa.key'}",
                f"--service-cluster-ip-range={_SERVICE_CIDR}",
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                f"--cert-dir={workdir / 'certs'}",
                *(self.webhook.apiserver_flags() if self.webhook else []),
            ],
            log_dir=workdir,
        )
        self._apiserver = apiserver
        started = time.monotonic()
        apiserver.start()
        apiserver.wait_until(
            lambda: _http_json(f"{url}/readyz", token=admin_token, ca=certificate.ca_pem) == "ok",
            timeout=_APISERVER_START_SECONDS,
            what="ready (/readyz)",
        )
        self.startup_seconds["kube-apiserver"] = time.monotonic() - started

        self.credentials = credentials
        self._start_controllers()
        self._baseline = self._etcd.keys(self._prefix)
        self._baseline_groups = _api_groups(url, token=admin_token, ca=certificate.ca_pem)
        return credentials

    def _start_controllers(self) -> None:
        workdir = self._workdir
        credentials = self.credentials
        assert credentials is not None
        controllers = Component(
            "kube-controller-manager",
            [
                self._binaries.path("kube-controller-manager"),
                f"--kubeconfig={workdir / 'admin.kubeconfig'}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={workdir / 'sa.key'}",
                f"--root-ca-file={workdir / 'ca.crt'}",
                "--leader-elect=false",
                "--secure-port=0",
                "--concurrent-gc-syncs=5",
            ],
            log_dir=workdir,
        )
        self._controllers = controllers
        started = time.monotonic()
        controllers.start()
        # The serviceaccount controller creating `default` proves the controller-manager is running and synced.
        controllers.wait_until(
            lambda: bool(
                _http_json(
                    f"{credentials.url}/api/v1/namespaces/default/serviceaccounts/default",
                    token=credentials.admin_token,
                    ca=credentials.ca_pem,
                )
            ),
            timeout=_CONTROLLERS_START_SECONDS,
            what="running (no `default` ServiceAccount)",
        )
        self.startup_seconds["kube-controller-manager"] = time.monotonic() - started

    @property
    def admin_kubeconfig(self) -> Path:
        return self._workdir / "admin.kubeconfig"

    def reset(self) -> None:
        """Back to the state right after start, for the next cluster: the controller-manager is restarted
        (no controller keeps a cache of the old objects) and every key written since start is deleted."""
        credentials = self.credentials
        if credentials is None or self._controllers is None:
            raise ControlPlaneUnavailable(f"{self.name}: reset() of a control plane that is not running")
        self._controllers.stop()
        self._etcd.delete_keys(self._etcd.keys(self._prefix) - self._baseline)
        baseline_namespaces = {
            key.rsplit("/", 1)[-1] for key in self._baseline if key.startswith(f"{self._prefix}/namespaces/")
        }

        def get(path: str) -> Any:
            return _http_json(f"{credentials.url}{path}", token=credentials.admin_token, ca=credentials.ca_pem)

        def forgotten() -> bool:  # the apiserver's watch cache has seen the deletes
            listed, nodes = get("/api/v1/namespaces"), get("/api/v1/nodes")
            names = {item["metadata"]["name"] for item in listed["items"]}
            # A deleted CRD's group must be gone from discovery too, or the next cluster would see it served.
            groups = _api_groups(credentials.url, token=credentials.admin_token, ca=credentials.ca_pem)
            return names == baseline_namespaces and not nodes["items"] and groups <= self._baseline_groups

        assert self._apiserver is not None
        self._apiserver.wait_until(forgotten, timeout=_CONTROLLERS_START_SECONDS, what="reset")
        self._start_controllers()

    def stop(self) -> None:
        for component in (self._controllers, self._apiserver):
            if component is not None:
                component.stop()
        self._controllers = self._apiserver = None
        self.credentials = None
        if self._etcd.running:
            try:
                self._etcd.delete_prefix(self._prefix)
            except OSError as exc:
                raise ControlPlaneUnavailable(f"etcd: could not delete the keys of {self.name}: {exc}") from exc
        shutil.rmtree(self._workdir, ignore_errors=True)
