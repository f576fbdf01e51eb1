"""The nodeup bootstrap script kOps puts into each launch template's user data.

The script is the one place an instance carries its kOps version: the nodeup download URL is
``.../kops/<release>/linux/<arch>/nodeup``. Its shape follows kOps' ``pkg/model/resources/nodeup.go``:

* before 1.15: ``NODEUP_URL`` on kubeupv2.s3.amazonaws.com only, SHA-1 ``NODEUP_HASH``;
* 1.15-1.18 (kops#7377): ``NODEUP_URL`` lists mirrors (artifacts.k8s.io, GitHub, kubeupv2), SHA-256;
* 1.19+ (kops#8938, ARM64): ``NODEUP_URL_AMD64``/``NODEUP_HASH_AMD64`` and ``..._ARM64``;
* 1.21+ (kops#11486): the kubeupv2 bucket is no longer a mirror; GitHub assets are ``nodeup-linux-<arch>``.
"""

from __future__ import annotations

import hashlib

import yaml

from kops_local.seed.layout import CLUSTER_CIDR, NON_MASQUERADE_CIDR, InstanceGroupPlan
from kops_local.seed.spec import ClusterSpec
from kops_local.seed.versions import KopsVersion

_LICENSE_HEADER = """\
# Copyright 2016 The Kubernetes Authors All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""

_FUNCTIONS = """\
function ensure-install-dir() {
  INSTALL_DIR="/opt/kops"
  # On ContainerOS, we install under /var/lib/toolbox; /opt is ro and noexec
  if [[ -d /var/lib/toolbox ]]; then
    INSTALL_DIR="/var/lib/toolbox/kops"
  fi
  mkdir -p ${INSTALL_DIR}/bin
  mkdir -p ${INSTALL_DIR}/conf
  cd ${INSTALL_DIR}
}

# Retry a download until we get it. args: name, sha, urls
download-or-bust() {
  local -r file="$1"
  local -r hash="$2"
  local -r urls=( $(split-commas "$3") )

  while true; do
    for url in "${urls[@]}"; do
      commands=(
        "curl -f --compressed -Lo "${file}" --connect-timeout 20 --retry 6 --retry-delay 10"
        "wget --compression=auto -O "${file}" --connect-timeout=20 --tries=6 --wait=10"
      )
      for cmd in "${commands[@]}"; do
        echo "Attempting download with: ${cmd} {url}"
        if ! (${cmd} "${url}"); then
          echo "== Download failed with ${cmd} =="
          continue
        fi
        if ! validate-hash "${file}" "${hash}"; then
          echo "== Hash validation of ${url} failed. Retrying. =="
          rm -f "${file}"
        else
          echo "== Downloaded ${url} =="
          return 0
        fi
      done
    done

    echo "All downloads failed; sleeping before retrying"
    sleep 60
  done
}

validate-hash() {
  local -r file="$1"
  local -r expected="$2"
  local actual

  actual=$(HASH_TOOL ${file} | awk '{ print $1 }') || true
  if [[ "${actual}" != "${expected}" ]]; then
    echo "== ${file} corrupted, hash ${actual} doesn't match expected ${expected} =="
    return 1
  fi
}

function split-commas() {
  echo $1 | tr "," "\\n"
}
"""

_DOWNLOAD_SINGLE_ARCH = """\
function download-release() {
  cd ${INSTALL_DIR}/bin
  download-or-bust nodeup "${NODEUP_HASH}" "${NODEUP_URL}"
  chmod +x nodeup

  echo "Running nodeup"
  # We can't run in the foreground because of https://github.com/docker/docker/issues/23793
  ( cd ${INSTALL_DIR}/bin; ./nodeup --install-systemd-unit --conf=${INSTALL_DIR}/conf/kube_env.yaml --v=8  )
}
"""

_DOWNLOAD_MULTI_ARCH = """\
function download-release() {
  case "$(uname -m)" in
  x86_64*|i?86_64*|amd64*)
    NODEUP_URL="${NODEUP_URL_AMD64}"
    NODEUP_HASH="${NODEUP_HASH_AMD64}"
    ;;
  aarch64*|arm64*)
    NODEUP_URL="${NODEUP_URL_ARM64}"
    NODEUP_HASH="${NODEUP_HASH_ARM64}"
    ;;
  *)
    echo "Unsupported host arch: $(uname -m)" >&2
    exit 1
    ;;
  esac

  cd ${INSTALL_DIR}/bin
  download-or-bust nodeup "${NODEUP_HASH}" "${NODEUP_URL}"
  chmod +x nodeup

  echo "Running nodeup"
  # We can't run in the foreground because of https://github.com/docker/docker/issues/23793
  ( cd ${INSTALL_DIR}/bin; ./nodeup --install-systemd-unit --conf=${INSTALL_DIR}/conf/kube_env.yaml --v=8  )
}
"""


def nodeup_urls(version: KopsVersion, arch: str = "amd64") -> list[str]:
    """Where this kOps release's bootstrap script downloads nodeup from, in order."""
    release = version.release
    legacy = f"https://kubeupv2.s3.amazonaws.com/kops/{release}/linux/{arch}/nodeup"
    if not version.mirrored_nodeup:
        return [legacy]
    canonical = f"https://artifacts.k8s.io/binaries/kops/{release}/linux/{arch}/nodeup"
    if version.at_least(1, 21):
        return [
            canonical,
            f"https://github.com/kubernetes/kops/releases/download/v{release}/nodeup-linux-{arch}",
        ]
    return [
        canonical,
        f"https://github.com/kubernetes/kops/releases/download/v{release}/linux-{arch}-nodeup",
        legacy,
    ]


def _fake_hash(text: str, *, sha1: bool = False) -> str:
    # Stable stand-in for the published nodeup checksum (SHA-1 before kOps 1.15, SHA-256 after).
    digest = hashlib.sha1 if sha1 else hashlib.sha256
    return digest(text.encode(), usedforsecurity=False).hexdigest()


def _nodeup_variables(version: KopsVersion) -> str:
    if not version.multi_arch_nodeup:
        urls = ",".join(nodeup_urls(version))
        nodeup_hash = _fake_hash(f"nodeup-{version.release}-amd64", sha1=not version.mirrored_nodeup)
        return f"NODEUP_URL={urls}\nNODEUP_HASH={nodeup_hash}\n"
    lines = []
    for arch in ("amd64", "arm64"):
        lines.append(f"NODEUP_URL_{arch.upper()}={','.join(nodeup_urls(version, arch))}")
        lines.append(f"NODEUP_HASH_{arch.upper()}={_fake_hash(f'nodeup-{version.release}-{arch}')}")
    return "\n".join(lines) + "\n"


def _kube_env(spec: ClusterSpec, group: InstanceGroupPlan, config_base: str) -> str:
    version = spec.kops_version
    k8s = version.kubernetes_version
    base = f"https://storage.googleapis.com/kubernetes-release/release/v{k8s}/bin/linux"
    binaries = [
        f"{_fake_hash(f'{binary}-{k8s}-{arch}')}@{base}/{arch}/{binary}"
        for arch in ("amd64", "arm64")
        for binary in ("kubelet", "kubectl")
    ]
    env: dict[str, object] = {
        # kOps 1.19 split assets per architecture.
        "Assets": {"amd64": binaries[:2], "arm64": binaries[2:]} if version.multi_arch_nodeup else binaries[:2],
        "ClusterName": spec.name,
        "ConfigBase": config_base,
        "InstanceGroupName": group.name,
        "InstanceGroupRole": group.kops_role,
        "Tags": ["_automatic_upgrades", "_aws"],
        "channels": [f"{config_base}/addons/bootstrap-channel.yaml"],
    }
    return yaml.safe_dump(env, sort_keys=False)


def _cluster_spec(spec: ClusterSpec) -> str:
    version = spec.kops_version
    runtime = "containerd" if version.containerd_runtime else "docker"
    cluster_spec: dict[str, object] = {
        "cloudConfig": None,
        "containerRuntime": runtime,
        "kubeProxy": {
            "clusterCIDR": CLUSTER_CIDR,
            "cpuRequest": "100m",
            "image": f"k8s.gcr.io/kube-proxy:v{version.kubernetes_version}",
            "logLevel": 2,
        },
        "kubelet": {
            "anonymousAuth": False,
            "cgroupRoot": "/",
            "cloudProvider": "aws",
            "clusterDNS": "100.64.0.10",
            "clusterDomain": "cluster.local",
            "enableDebuggingHandlers": True,
            "hostnameOverride": "@aws",
            "kubeconfigPath": "/var/lib/kubelet/kubeconfig",
            "logLevel": 2,
            "networkPluginName": "kubenet" if spec.networking == "kubenet" else "cni",
            "nonMasqueradeCIDR": NON_MASQUERADE_CIDR,
            "podManifestPath": "/etc/kubernetes/manifests",
        },
    }
    return yaml.safe_dump(cluster_spec, sort_keys=False)


def _heredoc(path: str, marker: str, content: str) -> str:
    return f"cat > {path} << '{marker}'\n{content}\n{marker}\n\n"


def nodeup_script(spec: ClusterSpec, group: InstanceGroupPlan, *, region: str, config_base: str) -> str:
    """The user data of ``group``'s launch template, as kOps renders it for ``spec.kops``."""
    version = spec.kops_version
    parts = [
        "#!/bin/bash\n",
        "" if version.at_least(1, 19) else _LICENSE_HEADER,
        "set -o errexit\nset -o nounset\nset -o pipefail\n\n",
        _nodeup_variables(version),
        f"\nexport AWS_REGION={region}\n\n",
        _FUNCTIONS.replace("HASH_TOOL", "sha256sum" if version.mirrored_nodeup else "sha1sum"),
        "\n",
        _DOWNLOAD_MULTI_ARCH if version.multi_arch_nodeup else _DOWNLOAD_SINGLE_ARCH,
        "\n####################################################################################\n\n",
        '/bin/systemd-machine-id-setup || echo "failed to set up ensure machine-id configured"\n\n',
        'echo "== nodeup node config starting =="\nensure-install-dir\n\n',
        _heredoc("conf/cluster_spec.yaml", "__EOF_CLUSTER_SPEC", _cluster_spec(spec)),
        _heredoc("conf/kube_env.yaml", "__EOF_KUBE_ENV", _kube_env(spec, group, config_base)),
        'download-release\necho "== nodeup node config done =="\n',
    ]
    return "".join(parts)
