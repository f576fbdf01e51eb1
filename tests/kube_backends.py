"""Which Kubernetes API the cluster-side and Spot suites run against: `--kube real` (default: kube-apiserver,
kube-controller-manager and etcd built by `make kube-bin`) or `--kube emulator` (our in-memory emulator)."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from kops_local.controlplane import RealKubeCluster
from kops_local.kube import KubeApiEmulator
from kops_local.kube.served import ServedKubeApi

BACKENDS = ("real", "emulator")


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kube",
        choices=BACKENDS,
        default="real",
        help="Kubernetes API of the cluster-side and Spot suites: the real control plane or the emulator",
    )


def start_kube(
    config: pytest.Config,
    *,
    name: str,
    tokens: Collection[str],
    tls: bool = False,
    kube: str | None = None,
    sts_url: str | None = None,
) -> ServedKubeApi:
    """A started API server for one seeded cluster; `tokens` act as the cluster's admin. `kube="real"` is for
    tests of what only a real API server has (RBAC's authorizer, CustomResourceDefinitions), whatever `--kube`
    says. `sts_url` (a `LocalAws` endpoint; real control plane only): the cluster runs its aws-iam-authenticator
    DaemonSet, once seeded, as the apiserver's token webhook (see `kops_local.iam_tokens`)."""
    backend: ServedKubeApi
    if (kube or config.getoption("--kube")) == "real":
        backend = RealKubeCluster(tokens=tokens, name=name, tls=tls, sts_url=sts_url)
    else:
        backend = KubeApiEmulator(tokens=tokens, name=name, tls=tls)
    backend.start()
    return backend
