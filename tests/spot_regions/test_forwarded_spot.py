"""A cluster in the second Spot region: onboarded from the home deployment, its Spot warning put on its own
region's bus is forwarded to the home bus, queued and drained by the one handler (AWS calls in its region)."""

import json
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.cli import app
from kops_onboard.executions import run_execution
from kops_onboard.spot_events import spot_event_entry
from tests.e2e import spot_support as support
from tests.local_up_process import interrupt, local_up
from tests.spot_regions.conftest import HOME_REGION, SECOND_REGION


@pytest.fixture(scope="module")
def far_cluster(two_region_system: LocalSystem) -> LocalCluster:
    system = two_region_system
    cluster = system.add_cluster(ClusterSpec.parse(f"far.k8s.local:kops=1.21,nodes=3,naming=id,region={SECOND_REGION}"))
    result = run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], cluster.onboard_input(), name_prefix="far"
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # A full drain: without the seeded budget the frontend's pods may all move.
    cluster.api_server.store.delete("policy/v1/poddisruptionbudgets", cluster.kube.app_namespace, cluster.kube.pdb_name)
    return cluster


def _asg_of(system: LocalSystem, instance_id: str) -> list[dict[str, Any]]:
    autoscaling: Any = system.aws.client("autoscaling", SECOND_REGION)
    found: list[dict[str, Any]] = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
        "AutoScalingInstances"
    ]
    return found


def test_the_announcement_and_the_deployment_name_both_regions(two_region_system: LocalSystem) -> None:
    assert two_region_system.announcement()["spot_regions"] == [HOME_REGION, SECOND_REGION]
    assert set(two_region_system.forwarders) == {SECOND_REGION}
    rules = two_region_system.aws.client("events", SECOND_REGION).list_rules()["Rules"]
    assert len([r for r in rules if "InterruptionRule" in r["Name"] or "StateChangeRule" in r["Name"]]) == 2


def test_a_warning_in_the_second_region_drains_the_node_through_the_home_queue(
    two_region_system: LocalSystem, far_cluster: LocalCluster
) -> None:
    system = two_region_system
    # Given an onboarded cluster of the second region and one of its Spot workers, still in its ASG
    assert far_cluster.aws.region == SECOND_REGION
    spot = support.spot_workers(far_cluster)[0]
    assert _asg_of(system, spot.instance_id)
    assert not support.node(far_cluster, spot)["spec"].get("unschedulable")
    # When EC2's interruption warning is put on the second region's bus (none on the home bus)
    entry = spot_event_entry(instance_id=spot.instance_id, region=SECOND_REGION, account=system.aws.account_id)
    response = system.aws.client("events", SECOND_REGION).put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0
    system.aws.drain_event_sources(timeout=120)
    # Then the home handler cordoned and drained the node: no app pod is left on it
    node = support.node(far_cluster, spot)
    assert node["spec"]["unschedulable"] is True
    assert not [
        p for p in support.pods_on(far_cluster, spot) if p["metadata"]["namespace"] == far_cluster.kube.app_namespace
    ]
    assert support.pod_lists_for(far_cluster, spot) == 1
    # and detached the instance from its ASG in the second region (early replacement, in the event's region)
    assert _asg_of(system, spot.instance_id) == []
    # and the queue the event went through is the home one: nothing is left there or in its DLQ
    sqs = system.aws.client("sqs")
    for output in ("SpotEventQueueUrl", "SpotDeadLetterQueueUrl"):
        attributes = sqs.get_queue_attributes(QueueUrl=system.output(output), AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0", output


@pytest.fixture
def cli_environment(two_region_system: LocalSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI pointed at the local system, as `local up` users do."""
    for name, value in {
        "AWS_ENDPOINT_URL": two_region_system.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": HOME_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.usefixtures("cli_environment")
def test_status_lists_both_covered_regions() -> None:
    # When status runs, then it names both regions, the home one first
    result = CliRunner().invoke(app, ["status", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["spot_regions"] == [HOME_REGION, SECOND_REGION]


@pytest.mark.usefixtures("cli_environment")
def test_the_cli_onboards_and_offboards_a_cluster_of_the_second_region(two_region_system: LocalSystem) -> None:
    # Given a cluster seeded in the second region
    cluster = two_region_system.add_cluster(ClusterSpec.parse(f"far-cli.k8s.local:nodes=1,region={SECOND_REGION}"))
    state_store = ["--state-store", "s3://kops-state-local"]
    # When the CLI onboards it from the home deployment, naming the cluster's region
    onboarded = CliRunner().invoke(
        app, ["onboard", cluster.name, "--cluster-region", SECOND_REGION, *state_store, "-o", "json"]
    )
    # Then it is onboarded in that region, its key pair made there
    assert onboarded.exit_code == 0, onboarded.output
    rows = json.loads(CliRunner().invoke(app, ["status", cluster.name, "-o", "json"]).output)["clusters"]
    assert [(row["region"], row["status"]) for row in rows] == [(SECOND_REGION, "ONBOARDED")]
    ec2: Any = two_region_system.aws.client("ec2", SECOND_REGION)
    assert ec2.describe_key_pairs(KeyNames=[f"cast-kops-{cluster.name}"])["KeyPairs"]
    # And offboarding with the same region removes it
    offboarded = CliRunner().invoke(
        app, ["offboard", cluster.name, "--cluster-region", SECOND_REGION, "--secret-recovery-days", "0", "-o", "json"]
    )
    assert offboarded.exit_code == 0, offboarded.output
    assert not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [f"cast-kops-{cluster.name}"]}])[
        "KeyPairs"
    ]


def test_local_up_seeds_a_cluster_in_the_second_region_and_deploys_its_forwarder(
    two_region_system: LocalSystem,
) -> None:
    # Given `local up` in its own process, covering two regions, with a cluster in each
    process = local_up(
        two_region_system.template,
        "--spot-regions",
        f"{HOME_REGION},{SECOND_REGION}",
        "--cluster",
        "near.k8s.local:nodes=1",
        "--cluster",
        f"far-up.k8s.local:nodes=1,region={SECOND_REGION}",
    )
    try:
        described = json.loads(process.stdout.readline() if process.stdout else "")
        # Then its JSON line names both regions and where each cluster is
        assert described["spot_regions"] == [HOME_REGION, SECOND_REGION]
        inputs = {name: cluster["onboard_input"]["region"] for name, cluster in described["clusters"].items()}
        assert inputs == {"near.k8s.local": HOME_REGION, "far-up.k8s.local": SECOND_REGION}

        # and the second region has the forwarder's rules, and the far cluster's instances
        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=described["aws_endpoint_url"],
                region_name=SECOND_REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        targets = [
            target["Arn"]
            for rule in client("events").list_rules()["Rules"]
            for target in client("events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
        ]
        assert targets == [f"arn:aws:events:{HOME_REGION}:{two_region_system.aws.account_id}:event-bus/default"] * 4
        far_ids = described["clusters"]["far-up.k8s.local"]["instance_ids"]
        reservations = client("ec2").describe_instances(InstanceIds=far_ids)["Reservations"]
        assert sorted(i["InstanceId"] for r in reservations for i in r["Instances"]) == sorted(far_ids)
    finally:
        assert interrupt(process) == 0


@pytest.mark.usefixtures("cli_environment")
def test_simulate_spot_puts_the_warning_in_the_instance_s_region(
    two_region_system: LocalSystem, far_cluster: LocalCluster
) -> None:
    # Given another Spot worker of the second region's cluster
    spot = support.spot_workers(far_cluster)[1]
    assert not support.node(far_cluster, spot)["spec"].get("unschedulable")
    # When simulate-spot sends its warning, naming the cluster's region
    result = CliRunner().invoke(
        app, ["simulate-spot", spot.instance_id, "--cluster-region", SECOND_REGION, "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    two_region_system.aws.drain_event_sources(timeout=120)
    # Then it went through that region's bus and its forwarder: the node is cordoned and drained
    assert support.node(far_cluster, spot)["spec"]["unschedulable"] is True
    assert support.pod_lists_for(far_cluster, spot) == 1
