"""The kOps addons of a seeded cluster: names, versions and images per kOps version and CNI.

Names are kOps' addon ids (``upup/models/cloudup/resources/addons/<id>``); the channels tool records
what it applied as ``addons.k8s.io/<id>`` annotations on the kube-system namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from kops_local.seed.spec import ClusterSpec
from kops_local.seed.versions import KopsVersion

AUTHENTICATOR_ADDON = "authentication.aws"


@dataclass(frozen=True)
class NetworkingAddon:
    """The CNI DaemonSet an addon runs on every node."""

    addon: str
    version: str
    daemonset: str
    selector: tuple[tuple[str, str], ...]
    image: str

    @property
    def selector_labels(self) -> dict[str, str]:
        return dict(self.selector)


def _cni(version: KopsVersion, new: str, old: str) -> str:
    # kOps 1.19 refreshed every CNI manifest; earlier releases shipped the older images.
    return new if version.at_least(1, 19) else old


def networking_addon(spec: ClusterSpec) -> NetworkingAddon | None:
    """The CNI addon of ``spec``; kubenet has none (the kubelet configures bridge networking itself)."""
    v = spec.kops_version
    match spec.networking:
        case "calico":
            tag = _cni(v, "v3.19.2", "v3.13.4")
            return NetworkingAddon(
                "networking.projectcalico.org",
                f"{tag[1:]}-kops.1",
                "calico-node",
                (("k8s-app", "calico-node"),),
                f"docker.io/calico/node:{tag}",
            )
        case "kube-router":
            # kOps 1.16/1.17 pinned kube-router v0.4.0 (the narrow-toleration manifest).
            tag = "v0.4.0" if v.kube_router_narrow_tolerations else _cni(v, "v1.2.1", "v0.3.1")
            return NetworkingAddon(
                "networking.kuberouter",
                f"{tag[1:]}-kops.1",
                "kube-router",
                (("k8s-app", "kube-router"),),
                f"docker.io/cloudnativelabs/kube-router:{tag}",
            )
        case "cilium":
            tag = _cni(v, "v1.9.9", "v1.7.3")
            return NetworkingAddon(
                "networking.cilium.io",
                f"{tag[1:]}-kops.1",
                "cilium",
                (("k8s-app", "cilium"),),
                f"docker.io/cilium/cilium:{tag}",
            )
        case "weave":
            tag = _cni(v, "2.8.1", "2.6.5")
            return NetworkingAddon(
                "networking.weave",
                f"{tag}-kops.1",
                "weave-net",
                (("name", "weave-net"),),
                f"weaveworks/weave-kube:{tag}",
            )
        case "flannel":
            tag = _cni(v, "v0.13.0", "v0.11.0")
            return NetworkingAddon(
                "networking.flannel",
                f"{tag[1:]}-kops.1",
                "kube-flannel-ds",
                (("app", "flannel"), ("tier", "node")),
                f"quay.io/coreos/flannel:{tag}-amd64",
            )
        case "amazon-vpc-routed-eni":
            tag = _cni(v, "v1.7.10", "v1.6.3")
            return NetworkingAddon(
                "networking.amazon-vpc-routed-eni",
                f"{tag[1:]}-kops.1",
                "aws-node",
                (("k8s-app", "aws-node"),),
                f"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:{tag}",
            )
        case _:
            return None


def authenticator_image(version: KopsVersion) -> str:
    # kops#8423 moved to aws-iam-authenticator 0.5 (kOps 1.17); kOps 1.20 shipped 0.5.3.
    if version.at_least(1, 20):
        tag = "v0.5.3-debian-stretch"
    elif version.at_least(1, 17):
        tag = "v0.5.1-debian-stretch"
    else:
        tag = "v0.4.0"
    return f"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-iam-authenticator:{tag}"


def addon_versions(spec: ClusterSpec) -> dict[str, str]:
    """Addon id → version, as listed in the bootstrap channel and recorded on kube-system."""
    release = spec.kops_version.release
    addons = {
        "core.addons.k8s.io": "1.4.0",
        "coredns.addons.k8s.io": "1.8.3-kops.3" if spec.kops_version.at_least(1, 19) else "1.6.7-kops.2",
        "dns-controller.addons.k8s.io": f"{release}-kops.1",
    }
    if spec.kops_version.at_least(1, 16):
        addons["kops-controller.addons.k8s.io"] = f"{release}-kops.1"
    cni = networking_addon(spec)
    if cni is not None:
        addons[cni.addon] = cni.version
    if spec.auth != "none":
        addons[AUTHENTICATOR_ADDON] = f"{release}-kops.1"
    return addons
