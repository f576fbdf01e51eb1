"""Seeded kOps clusters for the local system: AWS resources on moto, objects on a Kubernetes API.

``ClusterSpec.parse("demo.k8s.local:kops=1.17,networking=kube-router")`` describes a cluster;
``seed_aws`` creates what ``kops update cluster`` would on AWS (VPC, subnets, security groups, launch
templates with the nodeup bootstrap script, ASGs, on-demand and Spot instances, the S3 state store);
``seed_kube`` registers its nodes and the pods a running kOps cluster has; ``seed_access_secret``
stores a kubeconfig for it in Secrets Manager.
"""

from kops_local.seed.access import kubeconfig_secret_name, seed_access_secret, token_kubeconfig
from kops_local.seed.aws import SeededAwsCluster, SeededInstance, seed_aws
from kops_local.seed.kube import PodCounts, SeededKubeCluster, seed_kube
from kops_local.seed.spec import ClusterSpec, InvalidClusterSpec
from kops_local.seed.versions import KopsVersion
from kops_local.seed.writer import SeedError

__all__ = [
    "ClusterSpec",
    "InvalidClusterSpec",
    "KopsVersion",
    "PodCounts",
    "SeedError",
    "SeededAwsCluster",
    "SeededInstance",
    "SeededKubeCluster",
    "kubeconfig_secret_name",
    "seed_access_secret",
    "seed_aws",
    "seed_kube",
    "token_kubeconfig",
]
