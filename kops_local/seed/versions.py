"""kOps version facts the seeder needs: parsing, and what a given kOps release did differently.

Every threshold here is tied to the kOps change that introduced it, so the seeded clusters differ
by version the way real ones do (see the module docstrings of the users for the details).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_RE = re.compile(r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)(?:\.(?P<patch>0|[1-9]\d*))?$")

# Latest patch release of each kOps minor, used when a spec only names "1.21".
_KOPS_PATCH = {11: 1, 15: 3, 16: 4, 17: 2, 18: 3, 19: 3, 20: 3, 21: 4, 22: 4}

# kOps 1.x is released for (and defaults to) Kubernetes 1.x; these are the last patches of those minors.
_KUBERNETES_PATCH = {
    11: 10,
    12: 10,
    13: 12,
    14: 10,
    15: 12,
    16: 15,
    17: 17,
    18: 20,
    19: 16,
    20: 15,
    21: 14,
    22: 17,
}


@dataclass(frozen=True, order=True)
class KopsVersion:
    """A kOps version as written in a spec (``1.21`` or ``1.21.4``)."""

    major: int
    minor: int
    patch: int | None = None

    @classmethod
    def parse(cls, text: str) -> KopsVersion:
        match = _VERSION_RE.match(text.strip())
        if match is None:
            raise ValueError(f"not a kOps version (expected MAJOR.MINOR[.PATCH], e.g. 1.21): {text!r}")
        patch = match.group("patch")
        return cls(int(match.group("major")), int(match.group("minor")), None if patch is None else int(patch))

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def between(self, low: tuple[int, int], high: tuple[int, int]) -> bool:
        """True when MAJOR.MINOR lies in [low, high], both ends included."""
        return low <= (self.major, self.minor) <= high

    @property
    def short(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def release(self) -> str:
        """The full kOps release, e.g. ``1.21.4`` (what ``kops version`` prints)."""
        patch = self.patch if self.patch is not None else _KOPS_PATCH.get(self.minor, 0)
        return f"{self.major}.{self.minor}.{patch}"

    @property
    def kubernetes_version(self) -> str:
        patch = _KUBERNETES_PATCH.get(self.minor, 0) if self.major == 1 else 0
        return f"{self.major}.{self.minor}.{patch}"

    # --- behaviour switches, each tied to the kOps release that changed it ---

    @property
    def writes_kops_version_txt(self) -> bool:
        # kops#9362 (kOps 1.19): `kops update cluster` records its version in <cluster>/kops-version.txt
        # and refuses to run when the state store was last written by a newer kOps.
        return self.at_least(1, 19)

    @property
    def has_authenticator_backend_mode(self) -> bool:
        # kops#9500 (kOps 1.19): spec.authentication.aws.backendMode (MountedFile, EKSConfigMap, CRD).
        return self.at_least(1, 19)

    @property
    def multi_arch_nodeup(self) -> bool:
        # kops#8938 (kOps 1.19): ARM64 support; the bootstrap script carries NODEUP_URL_AMD64/_ARM64.
        return self.at_least(1, 19)

    @property
    def mirrored_nodeup(self) -> bool:
        # kops#7377 (kOps 1.15): nodeup is downloaded from a comma-separated list of mirrors.
        return self.at_least(1, 15)

    @property
    def kube_router_narrow_tolerations(self) -> bool:
        # kOps 1.16/1.17 ship kube-router v0.4.0's kubeadm manifest, which only tolerates
        # CriticalAddonsOnly, the master taint and not-ready: nodes with custom taints never get CNI.
        return self.between((1, 16), (1, 17))

    @property
    def labels_spot_nodes(self) -> bool:
        # kops#9121 (kOps 1.18): kops-controller labels Spot nodes node-role.kubernetes.io/spot-worker=true.
        return self.at_least(1, 18)

    @property
    def kubernetes_ga_topology_labels(self) -> bool:
        # Kubernetes 1.17 made topology.kubernetes.io/* and node.kubernetes.io/instance-type GA labels.
        return self.at_least(1, 17)

    @property
    def control_plane_role_label(self) -> bool:
        # Kubernetes 1.20 introduced node-role.kubernetes.io/control-plane next to .../master.
        return self.at_least(1, 20)

    @property
    def containerd_runtime(self) -> bool:
        # kOps 1.20 switched the default container runtime from Docker to containerd.
        return self.at_least(1, 20)

    @property
    def ubuntu_image(self) -> bool:
        # kops#9283 (kOps 1.18): Ubuntu 20.04 became the default image instead of kope.io Debian Stretch.
        return self.at_least(1, 18)

    @property
    def image(self) -> str:
        """The default instance image kOps picks (an ``owner/name`` image reference)."""
        if self.ubuntu_image:
            return "099720109477/ubuntu/images/hvm-ssd/ubuntu-focal-20.04-amd64-server-20210720"
        return f"kope.io/k8s-{self.short}-debian-stretch-amd64-hvm-ebs-2020-01-17"

    @property
    def addon_labels(self) -> bool:
        # kOps 1.19 labels every addon object addon.kops.k8s.io/name + app.kubernetes.io/managed-by=kops;
        # older manifests carried k8s-addon=<addon>.
        return self.at_least(1, 19)

    @property
    def mirror_pods_owned_by_node(self) -> bool:
        # Kubernetes 1.17: the kubelet sets an ownerReference to its Node on mirror pods.
        return self.at_least(1, 17)
