"""What cluster to seed: the ``NAME[:key=value,...]`` syntax of ``kops-onboard local up --cluster``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast, get_args

from kops_lambda.errors import InvalidSettings
from kops_lambda.settings import parse_regions
from kops_local.seed.versions import KopsVersion

Networking = Literal["calico", "kube-router", "cilium", "weave", "flannel", "amazon-vpc-routed-eni", "kubenet"]
AuthMode = Literal["mountedfile", "eksconfigmap", "crd", "none"]
NodeNaming = Literal["ip", "id"]

NETWORKING: tuple[str, ...] = get_args(Networking)
AUTH_MODES: tuple[str, ...] = get_args(AuthMode)
NODE_NAMINGS: tuple[str, ...] = get_args(NodeNaming)

DEFAULT_KOPS = "1.21"
DEFAULT_NETWORKING: Networking = "calico"
DEFAULT_NODES = 3
DEFAULT_PODS_PER_NODE = 4
MAX_NODES = 50
MAX_PODS_PER_NODE = 100

SETTINGS = ("kops", "networking", "nodes", "pods", "spot", "auth", "naming", "region")

# kOps cluster names are DNS names with at least two labels: gossip (name.k8s.local) or a real zone.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_CLUSTER_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


class InvalidClusterSpec(ValueError):
    """The cluster spec text or one of its settings is not acceptable."""


@dataclass(frozen=True)
class ClusterSpec:
    """A kOps cluster to seed. Build it with :meth:`parse` or :meth:`build`, which fill the defaults."""

    name: str
    kops: str
    networking: Networking
    nodes: int
    pods: int
    spot: int
    auth: AuthMode
    naming: NodeNaming
    region: str | None = None  # where it is seeded; None: the local system's region

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.region is not None:
            try:
                parse_regions([self.region], setting="region")
            except InvalidSettings as exc:
                raise InvalidClusterSpec(f"setting {exc}") from None
        _parse_version(self.kops)
        if self.networking not in NETWORKING:
            raise InvalidClusterSpec(_choice_error("networking", self.networking, NETWORKING))
        if self.auth not in AUTH_MODES:
            raise InvalidClusterSpec(_choice_error("auth", self.auth, AUTH_MODES))
        if self.auth == "crd" and not self.kops_version.has_authenticator_backend_mode:
            raise InvalidClusterSpec(f"setting auth={self.auth} needs kOps 1.19 or later (backendMode)")
        if self.naming not in NODE_NAMINGS:
            raise InvalidClusterSpec(_choice_error("naming", self.naming, NODE_NAMINGS))
        _check_range("nodes", self.nodes, 1, MAX_NODES)
        _check_range("pods", self.pods, 0, MAX_PODS_PER_NODE)
        _check_range("spot", self.spot, 0, self.nodes)

    @property
    def kops_version(self) -> KopsVersion:
        return _parse_version(self.kops)

    @property
    def on_demand(self) -> int:
        return self.nodes - self.spot

    @classmethod
    def build(
        cls,
        name: str,
        *,
        kops: str = DEFAULT_KOPS,
        networking: str = DEFAULT_NETWORKING,
        nodes: int = DEFAULT_NODES,
        pods: int = DEFAULT_PODS_PER_NODE,
        spot: int | None = None,
        auth: str | None = None,
        naming: str = "ip",
        region: str | None = None,
    ) -> ClusterSpec:
        """Fill the version- and size-dependent defaults, then validate."""
        version = _parse_version(kops)
        if spot is None:
            # One on-demand node keeps the cluster alive when every Spot node is reclaimed.
            spot = max(nodes - 1, 0)
        if auth is None:
            # kOps 1.19 brought backendMode, and with it the EKS-style aws-auth ConfigMap.
            auth = "eksconfigmap" if version.has_authenticator_backend_mode else "mountedfile"
        return cls(
            name=name,
            kops=kops,
            networking=cast(Networking, networking),
            nodes=nodes,
            pods=pods,
            spot=spot,
            auth=cast(AuthMode, auth),
            naming=cast(NodeNaming, naming),
            region=region,
        )

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        """Parse ``NAME`` or ``NAME:key=value,...``, e.g. ``demo.k8s.local:kops=1.17,nodes=4``."""
        name, sep, rest = text.strip().partition(":")
        name = name.strip()
        if not name:
            raise InvalidClusterSpec(f"cluster spec {text!r} has no cluster name")
        settings = _parse_settings(rest) if sep else {}
        nodes, pods = _int_setting(settings, "nodes"), _int_setting(settings, "pods")
        return cls.build(
            name,
            kops=settings.get("kops", DEFAULT_KOPS),
            networking=settings.get("networking", DEFAULT_NETWORKING),
            nodes=DEFAULT_NODES if nodes is None else nodes,
            pods=DEFAULT_PODS_PER_NODE if pods is None else pods,
            spot=_int_setting(settings, "spot"),
            auth=settings.get("auth"),
            naming=settings.get("naming", "ip"),
            region=settings.get("region"),
        )

    def __str__(self) -> str:
        return (
            f"{self.name}:kops={self.kops},networking={self.networking},nodes={self.nodes},"
            f"pods={self.pods},spot={self.spot},auth={self.auth},naming={self.naming}"
            + (f",region={self.region}" if self.region else "")
        )


def _parse_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise InvalidClusterSpec(f"setting {item.strip()!r} is not of the form key=value")
        if key not in SETTINGS:
            raise InvalidClusterSpec(f"unknown setting {key!r}; known settings: {', '.join(SETTINGS)}")
        if key in settings:
            raise InvalidClusterSpec(f"setting {key!r} is given twice")
        settings[key] = value
    return settings


def _int_setting(settings: dict[str, str], key: str) -> int | None:
    raw = settings.get(key)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidClusterSpec(f"setting {key}={raw!r} must be a non-negative whole number")
    return int(raw)


def _parse_version(text: str) -> KopsVersion:
    try:
        return KopsVersion.parse(text)
    except ValueError as err:
        raise InvalidClusterSpec(f"setting kops={text!r}: {err}") from err


def _check_name(name: str) -> None:
    if len(name) > 253 or not _CLUSTER_NAME_RE.match(name):
        raise InvalidClusterSpec(
            f"cluster name {name!r} is not a DNS name with at least two labels "
            "(kOps style: name.k8s.local or name.example.com, lowercase)"
        )


def _check_range(key: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidClusterSpec(f"setting {key}={value!r} must be between {low} and {high}")


def _choice_error(key: str, value: str, choices: tuple[str, ...]) -> str:
    return f"setting {key}={value!r} is not one of: {', '.join(choices)}"
