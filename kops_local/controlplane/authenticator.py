"""aws-iam-authenticator as the token webhook of a real control plane, run the way kOps runs it.

A kube-apiserver started for clusters given an STS (`RealKubeCluster(sts_url=...)`; they have a pool of their
own) has `--authentication-token-webhook-config-file` pointing at a fixed loopback port of its own
(`WebhookEndpoint`, with a certificate the authenticator serves and the apiserver trusts); the others have no
webhook. What listens there is decided per cluster, after the control plane is taken from the pool: an
`AuthenticatorPod` plays the kubelet of the masters for kOps' `kube-system/aws-iam-authenticator` DaemonSet.
While the DaemonSet exists it runs the real authenticator (built by `make kube-bin`) with the DaemonSet's own
arguments (`--cluster-id`, `--backend-mode`, or `--config` of the MountedFile mode, whose ConfigMap is written
to a local directory as a volume mount would be), plus the local address, port and state directory and a
kubeconfig for the EKSConfigMap and CRD backends' informers. A change of the pod template (kOps or onboarding
rolling the DaemonSet) restarts it with the ConfigMap as it then is, as a new pod would read it; a deleted
DaemonSet stops it. Without the DaemonSet (a cluster seeded without `authentication.aws`) nothing listens:
the apiserver's webhook call is refused and only the admin and ServiceAccount tokens authenticate.

Its STS calls go to the local AWS endpoint (`tools/authenticator/local_sts.go`, `KOPS_ONBOARD_LOCAL_STS_URL`),
whose presigned GetCallerIdentity answers like AWS (`kops_local.aws.sts_presigned`).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kops_local.controlplane.binaries import Binaries, ControlPlaneUnavailable
from kops_local.controlplane.objects import ApiObjectStore
from kops_local.controlplane.process import Component, free_port
from kops_local.kube.errors import ApiError
from kops_local.kube.tls import issue_certificate

logger = logging.getLogger(__name__)

NAMESPACE = "kube-system"
DAEMONSET = "aws-iam-authenticator"
# How long the apiserver keeps a webhook answer (both kinds): short, so a removed mapping is refused soon.
WEBHOOK_CACHE_TTL_SECONDS = 2
STS_URL_ENV = "KOPS_ONBOARD_LOCAL_STS_URL"
_PASS_SECONDS = 0.2
_START_SECONDS = 30.0
# Arguments of the DaemonSet that name places on the master, replaced by local ones (or added).
_LOCAL_FLAGS = (
    "--address",
    "--port",
    "--state-dir",
    "--kubeconfig",
    "--kubeconfig-pregenerated",
    "--generate-kubeconfig",
    "--master",
)


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where one control plane's apiserver sends TokenReviews, and the TLS identity served there."""

    port: int
    state_dir: Path  # holds cert.pem/key.pem, the names the authenticator loads from its --state-dir
    kubeconfig: Path  # the apiserver's --authentication-token-webhook-config-file

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/authenticate"

    def apiserver_flags(self) -> list[str]:
        return [
            f"--authentication-token-webhook-config-file={self.kubeconfig}",
            "--authentication-token-webhook-version=v1beta1",  # the TokenReview version the authenticator reads
            f"--authentication-token-webhook-cache-ttl={WEBHOOK_CACHE_TTL_SECONDS}s",
        ]


def prepare_webhook(workdir: Path, name: str) -> WebhookEndpoint:
    """A port, a certificate for 127.0.0.1 and the webhook kubeconfig, made before the apiserver starts."""
    state_dir = workdir / "iam-authenticator"
    state_dir.mkdir(parents=True, exist_ok=True)
    certificate = issue_certificate("127.0.0.1", f"{name}-aws-iam-authenticator")
    (state_dir / "cert.pem").write_text(certificate.cert_pem + certificate.ca_pem)
    key = state_dir / "key.pem"
    key.write_text(certificate.key_pem)
    key.chmod(0o600)
    (state_dir / "ca.pem").write_text(certificate.ca_pem)
    endpoint = WebhookEndpoint(free_port(), state_dir, workdir / "authentication-webhook.kubeconfig")
    ca = str(state_dir / "ca.pem")
    endpoint.kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "authenticator", "cluster": {"server": endpoint.url, "certificate-authority": ca}}
                ],
                "users": [{"name": "apiserver", "user": {}}],
                "contexts": [{"name": "webhook", "context": {"cluster": "authenticator", "user": "apiserver"}}],
                "current-context": "webhook",
            },
            indent=2,
        )
    )
    return endpoint


def _flag_name(arg: str) -> str:
    return arg.split("=", 1)[0]


class AuthenticatorPod:
    """The kOps authenticator DaemonSet of one cluster, run locally while it exists (see the module doc)."""

    def __init__(
        self,
        binaries: Binaries,
        store: ApiObjectStore,
        *,
        endpoint: WebhookEndpoint,
        kubeconfig: Path,
        sts_url: str,
        name: str,
    ) -> None:
        self._binaries = binaries
        self._store = store
        self._endpoint = endpoint
        self._kubeconfig = kubeconfig
        self._sts_url = sts_url
        self._name = name
        self._workdir = Path(tempfile.mkdtemp(prefix="kops-onboard-iam-authenticator-"))
        self._component: Component | None = None
        self._running_template: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        self.startup_seconds: list[float] = []

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"iam-authenticator-{self._name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_START_SECONDS + 15)
            self._thread = None
        with self._lock:
            self._stop_process()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def sync(self) -> None:
        """Bring the process in line with the DaemonSet now (the loop does the same every 0.2 s)."""
        with self._lock:
            self._sync()

    @property
    def running(self) -> bool:
        return self._component is not None and self._component.running

    @property
    def args(self) -> list[str]:
        """The running authenticator's command line (empty when none runs)."""
        return list(self._component.argv) if self._component is not None else []

    def log_tail(self) -> str:
        return self._component.log_tail() if self._component is not None else "(not running)"

    def _loop(self) -> None:
        while not self._stop.wait(_PASS_SECONDS):
            try:
                with self._lock:
                    if not self._stop.is_set():
                        self._sync()
            # The server stopping, an odd DaemonSet, an authenticator that would not start: next pass.
            except (ApiError, OSError, KeyError, ValueError, ControlPlaneUnavailable) as exc:
                logger.warning("aws-iam-authenticator of %s: %s", self._name, exc)

    # -- one pass ------------------------------------------------------------------------------------------

    def _sync(self) -> None:
        daemonset = self._store.get("apps/v1/daemonsets", NAMESPACE, DAEMONSET)
        if daemonset is None:
            self._stop_process()
            return
        template = json.dumps(daemonset["spec"]["template"], sort_keys=True)
        if template == self._running_template and self.running:
            return
        self._stop_process()
        self._start_process(daemonset)
        if self._component is not None:
            self._running_template = template

    def _stop_process(self) -> None:
        if self._component is not None:
            # Its first SIGTERM only cancels a context (the HTTP server keeps serving): kill it, as a kubelet
            # would after the grace period; it keeps no state.
            self._component.stop(graceful=False)
            self._component = None
        self._running_template = None

    def _start_process(self, daemonset: dict[str, Any]) -> None:
        pod = daemonset["spec"]["template"]["spec"]
        containers = pod["containers"]
        container = next((c for c in containers if c.get("name") == DAEMONSET), containers[0])
        mounts = self._mount_configmaps(pod, container)
        if mounts is None:  # as a kubelet, wait for the ConfigMap before starting the container
            return
        args = [str(self._binaries.path("aws-iam-authenticator"))]
        for arg in [*container.get("command", [])[1:], *container.get("args", [])]:
            if _flag_name(arg) in _LOCAL_FLAGS:
                continue
            local_arg = arg
            for mount_path, local in mounts.items():
                local_arg = local_arg.replace(mount_path, f"{local}/")
            args.append(local_arg)
        args += [
            "--address=127.0.0.1",
            f"--port={self._endpoint.port}",
            f"--state-dir={self._endpoint.state_dir}",
            f"--kubeconfig={self._kubeconfig}",
            "--kubeconfig-pregenerated=true",
        ]
        self.restarts += 1
        component = Component(f"aws-iam-authenticator-{self.restarts}", args, log_dir=self._workdir)
        self._component = component
        started = time.monotonic()
        # No instance metadata here: without this the AWS SDK probes 169.254.169.254 for a region.
        component.start(env={**os.environ, STS_URL_ENV: self._sts_url, "AWS_EC2_METADATA_DISABLED": "true"})
        component.wait_until(self._listening, timeout=_START_SECONDS, what=f"listening ({shlex.join(args[1:])})")
        self.startup_seconds.append(time.monotonic() - started)

    def _mount_configmaps(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str] | None:
        """Each ConfigMap volume the container mounts, written to a fresh local directory: mountPath -> dir;
        None while one of them does not exist."""
        configmaps = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes") or [] if "configMap" in v}
        mounts: dict[str, str] = {}
        for mount in container.get("volumeMounts") or []:
            configmap_name = configmaps.get(mount["name"])
            if configmap_name is None:
                continue
            configmap = self._store.get("v1/configmaps", NAMESPACE, configmap_name)
            if configmap is None:
                return None
            local = Path(tempfile.mkdtemp(prefix=f"{mount['name']}-", dir=self._workdir))
            for key, value in (configmap.get("data") or {}).items():
                (local / key).write_text(value)
            mounts[mount["mountPath"].rstrip("/") + "/"] = str(local)
        return mounts

    def _listening(self) -> bool:
        context = ssl.create_default_context(cafile=str(self._endpoint.state_dir / "ca.pem"))
        with (
            socket.create_connection(("127.0.0.1", self._endpoint.port), timeout=1) as sock,
            context.wrap_socket(sock, server_hostname="127.0.0.1"),
        ):
            return True
