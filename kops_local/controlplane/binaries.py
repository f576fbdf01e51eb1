"""Where the real control plane's binaries live, and building them when they are missing.

`tools/build-kube-bin.sh` builds kube-apiserver, kube-controller-manager and kubectl from the pinned
`tools/kube/go.mod`, etcd from `tools/etcd/go.mod` and aws-iam-authenticator from `tools/authenticator/go.mod`
(plus its `local_sts.go`) into `.cache/kube-bin/<kube>-etcd<etcd>-iamauth<authenticator>-<shim hash>/`, once
per machine (Go's own module and build caches make a rebuild after `make clean` fast).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = PROJECT_ROOT / "tools" / "build-kube-bin.sh"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "aws-iam-authenticator")


class ControlPlaneUnavailable(RuntimeError):
    """The real control plane cannot be used here (binaries missing and not buildable, or a failed start)."""


def _pinned(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["require"]:
            parts = parts[1:]
        if len(parts) >= 2 and parts[0] == module and parts[1].startswith("v"):
            return parts[1]
    raise ControlPlaneUnavailable(f"{go_mod} does not require {module}")


@dataclass(frozen=True)
class Binaries:
    directory: Path
    kube_version: str
    etcd_version: str
    authenticator_version: str

    def path(self, component: str) -> Path:
        return self.directory / component

    @property
    def complete(self) -> bool:
        return all(self.path(name).is_file() for name in COMPONENTS)


def pinned_binaries(root: Path = PROJECT_ROOT) -> Binaries:
    kube = _pinned(root / "tools" / "kube" / "go.mod", "k8s.io/kubernetes")
    etcd = _pinned(root / "tools" / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3")
    authenticator = _pinned(root / "tools" / "authenticator" / "go.mod", "sigs.k8s.io/aws-iam-authenticator")
    # As the build script names it: the shim compiled into the authenticator is part of what is pinned.
    shim = hashlib.sha256((root / "tools" / "authenticator" / "local_sts.go").read_bytes()).hexdigest()[:8]
    directory = root / ".cache" / "kube-bin" / f"{kube}-etcd{etcd}-iamauth{authenticator}-{shim}"
    return Binaries(directory, kube, etcd, authenticator)


def ensure_binaries(*, build: bool = True) -> Binaries:
    """The pinned binaries, built first if missing (`build=False`: fail instead)."""
    binaries = pinned_binaries()
    if binaries.complete:
        return binaries
    if not build:
        raise ControlPlaneUnavailable(
            f"the real control plane is not built in {binaries.directory}: run `make kube-bin`"
        )
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if result.returncode != 0 or not binaries.complete:
        raise ControlPlaneUnavailable(
            f"building the real control plane failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return binaries
