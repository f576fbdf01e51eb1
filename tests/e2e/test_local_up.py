"""`kops-onboard local up` as a user runs it: a separate process, one JSON line, reachable, stops on Ctrl-C."""

import json
import subprocess
from pathlib import Path

import boto3
import requests

from kops_local.controlplane import pinned_binaries
from tests.local_up_process import interrupt, local_up


def test_local_up_prints_the_json_line_and_serves_until_interrupted(template_path: Path) -> None:
    # Given the command started in its own process with two clusters
    process = local_up(
        template_path,
        "--cluster",
        "one.k8s.local:kops=1.17,networking=kube-router,nodes=2",
        "--cluster",
        "two.k8s.local",
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        # Then its first line is the JSON description (how long it takes is a bench figure)
        described = json.loads(line)
        assert set(described) >= {"aws_endpoint_url", "region", "state_machines", "clusters"}
        assert set(described["clusters"]) == {"one.k8s.local", "two.k8s.local"}
        one = described["clusters"]["one.k8s.local"]
        assert len(one["instance_ids"]) == 3 and one["onboard_input"]["cluster_name"] == "one.k8s.local"
        # And the AWS endpoint and the cluster's API server answer
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=described["aws_endpoint_url"],
            region_name=described["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        machine = sfn.describe_state_machine(stateMachineArn=described["state_machines"]["onboard"])
        assert machine["status"] == "ACTIVE"
        assert requests.get(f"{one['kube_api_url']}/version", verify=False, timeout=60).status_code == 401
    finally:
        # When interrupted, it stops cleanly
        assert interrupt(process) == 0


def test_local_up_on_the_real_control_plane_serves_a_real_kubernetes(template_path: Path, tmp_path: Path) -> None:
    # Given the command started with the real control plane and one cluster
    process = local_up(template_path, "--kube", "real", "--cluster", "real.k8s.local:kops=1.21,nodes=2")
    try:
        line = process.stdout.readline() if process.stdout else ""
        # Then its JSON line says so
        described = json.loads(line)
        assert described["kube"] == "real"
        cluster = described["clusters"]["real.k8s.local"]
        # And kubectl, with the kubeconfig onboarding would read, reports a real server version and the nodes
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=described["aws_endpoint_url"],
            region_name=described["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(secrets.get_secret_value(SecretId=cluster["kubeconfig_secret_arn"])["SecretString"])
        binaries = pinned_binaries()
        kubectl = [str(binaries.path("kubectl")), f"--kubeconfig={kubeconfig}"]
        version = json.loads(
            subprocess.run([*kubectl, "version", "-o", "json"], capture_output=True, check=True).stdout
        )
        assert version["serverVersion"]["gitVersion"] == binaries.kube_version
        nodes = subprocess.run([*kubectl, "get", "nodes", "-o", "name"], capture_output=True, text=True, check=True)
        assert len(nodes.stdout.split()) == len(cluster["instance_ids"])
    finally:
        # When interrupted, it stops cleanly
        assert interrupt(process) == 0
