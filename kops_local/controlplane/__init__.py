"""A real Kubernetes control plane for local runs and tests: etcd, kube-apiserver and kube-controller-manager
built from the official Go modules (`make kube-bin`), a kubelet stand-in, and `RealKubeCluster`, which serves
it behind the same test surface as the emulator (`store`, `requests`, `inject_fault`, `before_request`)."""

from kops_local.controlplane.binaries import Binaries, ControlPlaneUnavailable, ensure_binaries, pinned_binaries
from kops_local.controlplane.cluster import RealKubeCluster

__all__ = ["Binaries", "ControlPlaneUnavailable", "RealKubeCluster", "ensure_binaries", "pinned_binaries"]
