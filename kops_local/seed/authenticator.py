"""aws-iam-authenticator as kOps deploys it (addon ``authentication.aws``) and the mappings it reads.

* ``MountedFile`` (the only mode before kOps 1.19): ConfigMap ``kube-system/aws-iam-authenticator``,
  key ``config.yaml``, camelCase ``clusterID`` / ``server.mapRoles`` / ``server.mapUsers``
  (kOps ``docs/authentication.md``), mounted into the DaemonSet at /etc/aws-iam-authenticator/.
* ``EKSConfigMap`` (kOps 1.19+, kops#9500): ConfigMap ``kube-system/aws-auth`` with ``mapRoles`` /
  ``mapUsers`` YAML strings (lower-case ``rolearn``/``userarn``) exactly like EKS; no mounted file,
  ``--cluster-id`` and ``--backend-mode`` flags instead.
* ``CRD`` (kOps 1.19+): the CustomResourceDefinition ``iamidentitymappings.iamauthenticator.k8s.aws``
  (``data/iamidentitymapping-crd.yaml``) and one cluster-scoped IAMIdentityMapping per entry of
  ``spec.authentication.aws.identityMappings``, named ``iam-identity-mapping-<n>`` with the addon's
  labels. Only a server that serves CRDs can hold them (the real control plane, not the emulator).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from kops_local.seed.addons import AUTHENTICATOR_ADDON, authenticator_image
from kops_local.seed.manifests import addon_metadata
from kops_local.seed.spec import ClusterSpec

if TYPE_CHECKING:  # aws.py imports the state store, which imports this module
    from kops_local.seed.aws import SeededAwsCluster

NAMESPACE = "kube-system"
MOUNTED_FILE_CONFIGMAP = "aws-iam-authenticator"
EKS_CONFIGMAP = "aws-auth"
DAEMONSET = "aws-iam-authenticator"
_LABELS = {"k8s-app": "aws-iam-authenticator"}
IDENTITY_MAPPING_API_VERSION = "iamauthenticator.k8s.aws/v1alpha1"
# What kOps' authentication.aws addon labels its objects with.
_KOPS_ADDON_LABELS = {
    "addon.kops.k8s.io/name": AUTHENTICATOR_ADDON,
    "app.kubernetes.io/managed-by": "kops",
    "role.kubernetes.io/authentication": "1",
}


def _admin_role(account_id: str) -> str:
    # The role the cluster's operators assume; kOps' docs map it to system:masters.
    return f"arn:aws:iam::{account_id}:role/KubernetesAdmin"


def _admin_user(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:user/kops-admin"


def identity_mapping_crd() -> dict[str, Any]:
    """The IAMIdentityMapping CustomResourceDefinition, as kOps applies it."""
    text = resources.files("kops_local.seed").joinpath("data/iamidentitymapping-crd.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def kops_identity_mappings(account_id: str) -> list[dict[str, Any]]:
    """``spec.authentication.aws.identityMappings`` of a CRD-backend cluster: the operators' admin mappings."""
    return [
        {"arn": _admin_role(account_id), "username": "kubernetes-admin", "groups": ["system:masters"]},
        {"arn": _admin_user(account_id), "username": "kops-admin", "groups": ["system:masters"]},
    ]


def identity_mapping_objects(aws: SeededAwsCluster) -> list[dict[str, Any]]:
    """kOps' IAMIdentityMapping objects for those mappings: ``iam-identity-mapping-<n>``."""
    return [
        {
            "apiVersion": IDENTITY_MAPPING_API_VERSION,
            "kind": "IAMIdentityMapping",
            "metadata": {"name": f"iam-identity-mapping-{index}", "labels": dict(_KOPS_ADDON_LABELS)},
            "spec": mapping,
        }
        for index, mapping in enumerate(kops_identity_mappings(aws.account_id))
    ]


def mounted_file_config(aws: SeededAwsCluster) -> dict[str, Any]:
    """The ``config.yaml`` the authenticator reads in MountedFile mode."""
    return {
        "clusterID": aws.name,
        "server": {
            "mapRoles": [
                {"roleARN": _admin_role(aws.account_id), "username": "kubernetes-admin", "groups": ["system:masters"]},
                {
                    "roleARN": aws.node_role_arn,
                    "username": "aws:{{AccountID}}:instance:{{SessionName}}",
                    "groups": ["system:bootstrappers", "aws:instances"],
                },
            ],
            "mapUsers": [
                {"userARN": _admin_user(aws.account_id), "username": "kops-admin", "groups": ["system:masters"]}
            ],
        },
    }


def eks_map_roles(aws: SeededAwsCluster) -> list[dict[str, Any]]:
    return [
        {
            "rolearn": aws.node_role_arn,
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        },
        {"rolearn": _admin_role(aws.account_id), "username": "kubernetes-admin", "groups": ["system:masters"]},
    ]


def eks_map_users(aws: SeededAwsCluster) -> list[dict[str, Any]]:
    return [{"userarn": _admin_user(aws.account_id), "username": "kops-admin", "groups": ["system:masters"]}]


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def configmap(spec: ClusterSpec, aws: SeededAwsCluster) -> dict[str, Any] | None:
    """The mapping ConfigMap for ``spec.auth``, or None when authentication is not enabled."""
    if spec.auth == "mountedfile":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": MOUNTED_FILE_CONFIGMAP, "namespace": NAMESPACE, "labels": dict(_LABELS)},
            "data": {"config.yaml": _dump(mounted_file_config(aws))},
        }
    if spec.auth == "eksconfigmap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": EKS_CONFIGMAP, "namespace": NAMESPACE},
            "data": {"mapRoles": _dump(eks_map_roles(aws)), "mapUsers": _dump(eks_map_users(aws))},
        }
    return None


def _args(spec: ClusterSpec) -> list[str]:
    version = spec.kops_version
    args = ["server"]
    if spec.auth == "mountedfile":
        args.append("--config=/etc/aws-iam-authenticator/config.yaml")
    else:
        args.append(f"--cluster-id={spec.name}")
    args += ["--state-dir=/var/aws-iam-authenticator", "--kubeconfig-pregenerated=true"]
    if version.has_authenticator_backend_mode:
        modes = {"mountedfile": "MountedFile", "eksconfigmap": "EKSConfigMap", "crd": "CRD"}
        args.append(f"--backend-mode={modes[spec.auth]}")
    return args


def daemonset(spec: ClusterSpec, master_role_label: str) -> dict[str, Any]:
    """The authenticator DaemonSet; it runs on the masters only, next to kube-apiserver."""
    mounted = spec.auth == "mountedfile"
    volume_mounts = [
        {"name": "state", "mountPath": "/var/aws-iam-authenticator/"},
        {"name": "output", "mountPath": "/etc/kubernetes/aws-iam-authenticator/"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "output", "hostPath": {"path": "/srv/kubernetes/aws-iam-authenticator/"}},
        {"name": "state", "hostPath": {"path": "/srv/kubernetes/aws-iam-authenticator/"}},
    ]
    if mounted:
        volume_mounts.insert(0, {"name": "config", "mountPath": "/etc/aws-iam-authenticator/"})
        volumes.insert(0, {"name": "config", "configMap": {"name": MOUNTED_FILE_CONFIGMAP}})
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": addon_metadata(spec, DAEMONSET, NAMESPACE, AUTHENTICATOR_ADDON, _LABELS),
        "spec": {
            "selector": {"matchLabels": dict(_LABELS)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "serviceAccountName": "aws-iam-authenticator",
                    "hostNetwork": True,
                    "nodeSelector": {master_role_label: ""},
                    "priorityClassName": "system-node-critical",
                    "tolerations": [
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "containers": [
                        {
                            "name": "aws-iam-authenticator",
                            "image": authenticator_image(spec.kops_version),
                            "args": _args(spec),
                            "resources": {
                                "requests": {"memory": "20Mi", "cpu": "10m"},
                                "limits": {"memory": "20Mi", "cpu": "100m"},
                            },
                            "volumeMounts": volume_mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
