"""seed_aws on moto: two kOps clusters of different versions side by side in one account."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import moto
import pytest
import yaml

from kops_local.seed import ClusterSpec, KopsVersion, SeededAwsCluster
from kops_local.seed.userdata import nodeup_urls
from tests.seed.conftest import BUCKET, REGION, aws_client, seed_aws_cluster

CURRENT = "demo.k8s.local"  # kOps 1.21 defaults
LEGACY = "legacy.example.com:kops=1.17,networking=kube-router,nodes=4,spot=2"


@pytest.fixture(scope="module")
def clusters() -> Iterator[dict[str, SeededAwsCluster]]:
    # Given one AWS account holding a current and a legacy kOps cluster
    with moto.mock_aws():
        seeded = {text: seed_aws_cluster(text) for text in (CURRENT, LEGACY)}
        yield {cluster.name: cluster for cluster in seeded.values()}


@pytest.fixture(scope="module")
def ec2(clusters: dict[str, SeededAwsCluster]) -> Any:
    return aws_client("ec2")


@pytest.fixture(scope="module")
def autoscaling(clusters: dict[str, SeededAwsCluster]) -> Any:
    return aws_client("autoscaling")


@pytest.fixture(scope="module")
def s3(clusters: dict[str, SeededAwsCluster]) -> Any:
    return aws_client("s3")


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def _instances(ec2: Any, cluster: str) -> list[dict[str, Any]]:
    pages = ec2.describe_instances(Filters=[{"Name": "tag:KubernetesCluster", "Values": [cluster]}])
    return [instance for reservation in pages["Reservations"] for instance in reservation["Instances"]]


def _read(s3: Any, key: str) -> str:
    return str(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())


def test_each_cluster_gets_its_own_tagged_vpc_with_a_subnet_per_zone(
    clusters: dict[str, SeededAwsCluster], ec2: Any
) -> None:
    # When both clusters are seeded
    # Then their VPCs differ, are 172.20.0.0/16 and carry kOps' cluster tags
    assert len({c.vpc_id for c in clusters.values()}) == 2
    for name, cluster in clusters.items():
        vpc = ec2.describe_vpcs(VpcIds=[cluster.vpc_id])["Vpcs"][0]
        assert vpc["CidrBlock"] == "172.20.0.0/16"
        assert _tags(vpc) == {
            "KubernetesCluster": name,
            "Name": name,
            f"kubernetes.io/cluster/{name}": "owned",
        }

        # And one /19 subnet per zone, in that VPC
        subnets = ec2.describe_subnets(SubnetIds=list(cluster.subnet_ids.values()))["Subnets"]
        assert {s["AvailabilityZone"]: s["SubnetId"] for s in subnets} == cluster.subnet_ids
        assert sorted(s["CidrBlock"] for s in subnets) == [
            "172.20.32.0/19",
            "172.20.64.0/19",
            "172.20.96.0/19",
        ]
        assert {s["VpcId"] for s in subnets} == {cluster.vpc_id}
        assert all(_tags(s)["KubernetesCluster"] == name for s in subnets)


def test_security_groups_are_named_by_role(clusters: dict[str, SeededAwsCluster], ec2: Any) -> None:
    for name, cluster in clusters.items():
        groups = ec2.describe_security_groups(GroupIds=list(cluster.security_group_ids.values()))
        by_name = {g["GroupName"]: g for g in groups["SecurityGroups"]}
        assert set(by_name) == {f"nodes.{name}", f"masters.{name}"}
        assert {g["VpcId"] for g in by_name.values()} == {cluster.vpc_id}
        assert by_name[f"nodes.{name}"]["GroupId"] == cluster.security_group_ids["nodes"]


def test_asgs_are_named_like_kops_and_hold_their_instances(
    clusters: dict[str, SeededAwsCluster], autoscaling: Any
) -> None:
    for name, cluster in clusters.items():
        # Then masters are <ig>.masters.<cluster>, workers nodes-<zone>.<cluster>
        assert set(cluster.asg_names) == {
            f"master-us-east-1a.masters.{name}",
            f"nodes-us-east-1a.{name}",
            f"nodes-us-east-1b.{name}",
            f"nodes-us-east-1c.{name}",
        }
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(cluster.asg_names))
        for group in groups["AutoScalingGroups"]:
            expected = {i.instance_id for i in cluster.instances if i.asg_name == group["AutoScalingGroupName"]}
            # And every instance is attached to its ASG, whose size is fixed at that count (kOps min == max)
            assert {i["InstanceId"] for i in group["Instances"]} == expected
            assert group["MinSize"] == group["MaxSize"] == group["DesiredCapacity"] == len(expected)
            assert _tags(group)["kops.k8s.io/instancegroup"] == group["AutoScalingGroupName"].split(".")[0]


def test_instances_carry_the_kops_tags(clusters: dict[str, SeededAwsCluster], ec2: Any) -> None:
    for name, cluster in clusters.items():
        for instance in _instances(ec2, name):
            seeded = cluster.instance(instance["InstanceId"])
            tags = _tags(instance)
            role_tag = "k8s.io/role/master" if seeded.role == "master" else "k8s.io/role/node"
            assert tags["KubernetesCluster"] == name
            assert tags[f"kubernetes.io/cluster/{name}"] == "owned"
            assert tags["Name"] == seeded.asg_name
            assert tags["kops.k8s.io/instancegroup"] == seeded.instance_group
            assert tags[role_tag] == "1"
            assert tags["aws:autoscaling:groupName"] == seeded.asg_name
            # And the seeded record matches what EC2 reports
            assert instance["Placement"]["AvailabilityZone"] == seeded.az
            assert instance["PrivateDnsName"] == seeded.private_dns_name
            assert instance["SubnetId"] == cluster.subnet_ids[seeded.az]


@pytest.mark.parametrize(
    ("cluster", "spot", "on_demand_workers"), [("demo.k8s.local", 2, 1), ("legacy.example.com", 2, 2)]
)
def test_spot_and_on_demand_counts_follow_the_spec(
    clusters: dict[str, SeededAwsCluster], ec2: Any, cluster: str, spot: int, on_demand_workers: int
) -> None:
    # Then EC2 reports InstanceLifecycle=spot for exactly `spot` workers; the rest and the master are not Spot
    lifecycles = Counter(
        (_tags(i).get("k8s.io/role/master") == "1", i.get("InstanceLifecycle", "on-demand"))
        for i in _instances(ec2, cluster)
    )
    assert lifecycles == Counter(
        {(False, "spot"): spot, (False, "on-demand"): on_demand_workers, (True, "on-demand"): 1}
    )
    seeded = clusters[cluster]
    assert Counter(i.lifecycle for i in seeded.workers) == Counter({"spot": spot, "on-demand": on_demand_workers})


def test_workers_are_spread_over_the_zones(clusters: dict[str, SeededAwsCluster]) -> None:
    legacy = clusters["legacy.example.com"]
    assert Counter(i.az for i in legacy.workers) == Counter({"us-east-1a": 2, "us-east-1b": 1, "us-east-1c": 1})
    assert [i.az for i in legacy.masters] == ["us-east-1a"]


def test_detaching_without_decrement_makes_the_asg_launch_a_replacement(
    clusters: dict[str, SeededAwsCluster], autoscaling: Any
) -> None:
    # Given a Spot worker attached to its ASG
    legacy = clusters["legacy.example.com"]
    victim = next(i for i in legacy.workers if i.lifecycle == "spot" and i.az == "us-east-1c")

    # When it is detached without decrementing the desired capacity
    autoscaling.detach_instances(
        AutoScalingGroupName=victim.asg_name,
        InstanceIds=[victim.instance_id],
        ShouldDecrementDesiredCapacity=False,
    )

    # Then the ASG keeps its size with a new instance
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[victim.asg_name])["AutoScalingGroups"][0]
    members = {i["InstanceId"] for i in group["Instances"]}
    assert victim.instance_id not in members
    assert len(members) == group["DesiredCapacity"] == 1


def _user_data(ec2: Any, cluster: SeededAwsCluster, asg: str) -> str:
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=cluster.launch_template_ids[asg])
    return base64.b64decode(versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]).decode()


def test_launch_template_user_data_carries_the_kops_version(clusters: dict[str, SeededAwsCluster], ec2: Any) -> None:
    # Then kOps 1.21 uses the multi-arch variables, the canonical artifacts.k8s.io location first
    current = _user_data(ec2, clusters["demo.k8s.local"], "nodes-us-east-1a.demo.k8s.local")
    match = re.search(r"^NODEUP_URL_AMD64=(\S+)$", current, re.MULTILINE)
    assert match is not None
    assert match.group(1).split(",")[0] == "https://artifacts.k8s.io/binaries/kops/1.21.4/linux/amd64/nodeup"
    assert "InstanceGroupName: nodes-us-east-1a" in current

    # And kOps 1.17 the single NODEUP_URL with its mirror list
    legacy = _user_data(ec2, clusters["legacy.example.com"], "master-us-east-1a.masters.legacy.example.com")
    match = re.search(r"^NODEUP_URL=(\S+)$", legacy, re.MULTILINE)
    assert match is not None
    assert "/kops/1.17.2/linux/amd64/nodeup" in match.group(1)
    assert "NODEUP_URL_AMD64" not in legacy
    assert "InstanceGroupRole: Master" in legacy


@pytest.mark.parametrize(
    ("kops", "urls"),
    [
        ("1.11", ["https://kubeupv2.s3.amazonaws.com/kops/1.11.1/linux/amd64/nodeup"]),
        (
            "1.15",
            [
                "https://artifacts.k8s.io/binaries/kops/1.15.3/linux/amd64/nodeup",
                "https://github.com/kubernetes/kops/releases/download/v1.15.3/linux-amd64-nodeup",
                "https://kubeupv2.s3.amazonaws.com/kops/1.15.3/linux/amd64/nodeup",
            ],
        ),
        (
            "1.22",
            [
                "https://artifacts.k8s.io/binaries/kops/1.22.4/linux/amd64/nodeup",
                "https://github.com/kubernetes/kops/releases/download/v1.22.4/nodeup-linux-amd64",
            ],
        ),
    ],
)
def test_nodeup_download_locations_per_version(kops: str, urls: list[str]) -> None:
    assert nodeup_urls(KopsVersion.parse(kops)) == urls


def test_state_store_holds_what_kops_writes(clusters: dict[str, SeededAwsCluster], s3: Any) -> None:
    # Then each cluster has its config, completed spec, channel and one object per instance group
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    for name, cluster in clusters.items():
        assert cluster.state_store == f"s3://{BUCKET}/{name}"
        expected = {f"{name}/config", f"{name}/cluster.spec", f"{name}/addons/bootstrap-channel.yaml"}
        expected |= {f"{name}/instancegroup/{asg.split('.')[0]}" for asg in cluster.asg_names}
        assert expected <= {k for k in keys if k.startswith(f"{name}/")}

    # And only kOps 1.19+ writes kops-version.txt, holding the release that last updated the cluster
    assert _read(s3, "demo.k8s.local/kops-version.txt") == "1.21.4"
    assert "legacy.example.com/kops-version.txt" not in keys


def test_cluster_config_describes_the_seeded_network(clusters: dict[str, SeededAwsCluster], s3: Any) -> None:
    for name, cluster in clusters.items():
        config = yaml.safe_load(_read(s3, f"{name}/config"))
        spec = config["spec"]
        assert (config["apiVersion"], config["kind"], config["metadata"]["name"]) == (
            "kops.k8s.io/v1alpha2",
            "Cluster",
            name,
        )
        assert spec["networkID"] == cluster.vpc_id
        assert {s["zone"]: s["id"] for s in spec["subnets"]} == cluster.subnet_ids
        assert spec["configBase"] == cluster.state_store

    current = yaml.safe_load(_read(s3, "demo.k8s.local/config"))["spec"]
    assert current["kubernetesVersion"] == "1.21.14"
    assert current["networking"] == {"calico": {"majorVersion": "v3"}}
    assert current["authentication"] == {"aws": {"backendMode": "EKSConfigMap"}}

    legacy = yaml.safe_load(_read(s3, "legacy.example.com/config"))["spec"]
    assert legacy["kubernetesVersion"] == "1.17.17"
    assert legacy["networking"] == {"kuberouter": {}}
    assert legacy["authentication"] == {"aws": {}}  # no backendMode before kOps 1.19


def test_instance_groups_record_size_and_spot_mix(clusters: dict[str, SeededAwsCluster], s3: Any) -> None:
    # Given legacy's us-east-1a group: one on-demand and one Spot worker
    group = yaml.safe_load(_read(s3, "legacy.example.com/instancegroup/nodes-us-east-1a"))

    # Then the InstanceGroup says so through its mixedInstancesPolicy
    assert group["kind"] == "InstanceGroup"
    assert group["metadata"]["labels"] == {"kops.k8s.io/cluster": "legacy.example.com"}
    assert (group["spec"]["role"], group["spec"]["minSize"], group["spec"]["maxSize"]) == ("Node", 2, 2)
    assert group["spec"]["mixedInstancesPolicy"]["onDemandBase"] == 1
    assert group["spec"]["subnets"] == ["us-east-1a"]

    master = yaml.safe_load(_read(s3, "legacy.example.com/instancegroup/master-us-east-1a"))
    assert master["spec"]["role"] == "Master"
    assert "mixedInstancesPolicy" not in master["spec"]


def test_state_store_bucket_is_created_in_other_regions() -> None:
    # Given a fresh account and a region other than us-east-1
    with moto.mock_aws():
        # When a one-worker cluster is seeded there
        cluster = seed_aws_cluster("eu.k8s.local:nodes=1", region="eu-west-1", bucket="eu-kops-state")

        # Then the bucket exists in that region with the cluster's config
        s3 = aws_client("s3", "eu-west-1")
        assert s3.get_bucket_location(Bucket="eu-kops-state")["LocationConstraint"] == "eu-west-1"
        assert s3.head_object(Bucket="eu-kops-state", Key="eu.k8s.local/config")
        assert cluster.workers[0].private_dns_name.endswith(".eu-west-1.compute.internal")
        assert cluster.spec == ClusterSpec.parse("eu.k8s.local:nodes=1")
        assert cluster.region != REGION
