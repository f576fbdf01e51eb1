"""What binds an execution to one cluster: the kubeconfig secret's name and the API server's nodes."""

import pytest
from kubernetes import client as k8s

from kops_lambda.errors import ClusterMismatch, InvalidInput
from kops_lambda.logic.cluster.binding import kubeconfig_secret, verify_api_server
from tests.cluster.conftest import REGION, MakeCluster, aws_client

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kops-onboard/clusters"


def _bind(arn: str, cluster: str = "a.k8s.local") -> str:
    return kubeconfig_secret(arn, cluster_name=cluster, partition="aws", account=ACCOUNT, region=REGION)


def test_the_clusters_own_secret_in_this_account_and_region_is_accepted() -> None:
    arn = f"{PREFIX}/a.k8s.local/kubeconfig-AbCdEf"
    assert _bind(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        f"{PREFIX}/b.k8s.local/kubeconfig-AbCdEf",  # another cluster's
        f"{PREFIX}/a.k8s.local/kubeconfig-old-AbCdEf",  # another secret under the cluster's prefix
        f"arn:aws:secretsmanager:{REGION}:999999999999:secret:kops-onboard/clusters/a.k8s.local/kubeconfig-AbCdEf",
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:kops-onboard/clusters/a.k8s.local/kubeconfig-AbCdEf",
    ],
    ids=["other-cluster", "other-name", "other-account", "other-region"],
)
def test_any_other_secret_is_refused_naming_the_expected_one(arn: str) -> None:
    with pytest.raises(InvalidInput, match=r"kops-onboard/clusters/a\.k8s\.local/kubeconfig in account 123456789012"):
        _bind(arn)


def test_the_api_server_of_the_named_cluster_is_proven_by_its_nodes(make_cluster: MakeCluster) -> None:
    cluster = make_cluster("kops=1.21", nodes=2)
    proven = verify_api_server(cluster.api, aws_client("ec2"), cluster_name=cluster.name, region=REGION)
    assert proven == sorted(i.instance_id for i in cluster.aws.instances)


def test_another_clusters_api_server_is_a_mismatch_naming_both(make_cluster: MakeCluster) -> None:
    # Given cluster A and cluster B's API server (a kubeconfig under A's name pointing at B)
    a, b = make_cluster("kops=1.21"), make_cluster("kops=1.20")
    # When the server is checked for A, then it is a mismatch naming A and B
    with pytest.raises(ClusterMismatch) as raised:
        verify_api_server(b.api, aws_client("ec2"), cluster_name=a.name, region=REGION)
    assert a.name in str(raised.value) and b.name in str(raised.value)


def test_an_authenticator_flagged_for_another_cluster_is_a_mismatch(make_cluster: MakeCluster) -> None:
    # Given a kOps 1.21 cluster whose authenticator runs with another --cluster-id
    cluster = make_cluster("kops=1.21")
    apps = k8s.AppsV1Api(cluster.admin)
    daemonset = apps.read_namespaced_daemon_set("aws-iam-authenticator", "kube-system")
    container = daemonset.spec.template.spec.containers[0]
    container.args = [
        a if not a.startswith("--cluster-id=") else "--cluster-id=other.k8s.local" for a in container.args
    ]
    apps.replace_namespaced_daemon_set("aws-iam-authenticator", "kube-system", daemonset)
    # Then the server is not proven to be the cluster's
    with pytest.raises(ClusterMismatch, match=r"other\.k8s\.local"):
        verify_api_server(cluster.api, aws_client("ec2"), cluster_name=cluster.name, region=REGION)


def test_a_mounted_authenticator_config_of_another_cluster_is_a_mismatch(make_cluster: MakeCluster) -> None:
    # Given a kOps 1.17 cluster (MountedFile) whose config.yaml names another cluster
    cluster = make_cluster("kops=1.17")
    core = k8s.CoreV1Api(cluster.admin)
    config = core.read_namespaced_config_map("aws-iam-authenticator", "kube-system")
    config.data["config.yaml"] = config.data["config.yaml"].replace(f"clusterID: {cluster.name}", "clusterID: other")
    core.replace_namespaced_config_map("aws-iam-authenticator", "kube-system", config)
    with pytest.raises(ClusterMismatch, match="cluster id 'other'"):
        verify_api_server(cluster.api, aws_client("ec2"), cluster_name=cluster.name, region=REGION)
