"""`kops-onboard local up` as a user runs it: a separate process, one JSON line, reachable, stops on Ctrl-C."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

LOCAL_UP_BUDGET_SECONDS = 60


def test_local_up_prints_the_json_line_and_serves_until_interrupted(template_path: Path) -> None:
    # Given the command started in its own process with two clusters
    command = [
        str(Path(sys.executable).parent / "kops-onboard"),
        "local",
        "up",
        "--template",
        str(template_path),
        "--cluster",
        "one.k8s.local:kops=1.17,networking=kube-router,nodes=2",
        "--cluster",
        "two.k8s.local",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        started = time.monotonic()
        line = process.stdout.readline() if process.stdout else ""
        elapsed = time.monotonic() - started
        # Then its first line is the JSON description, within the budget
        assert elapsed < LOCAL_UP_BUDGET_SECONDS
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
        assert requests.get(f"{one['kube_api_url']}/version", verify=False, timeout=5).status_code == 401
    finally:
        # When interrupted, it stops cleanly
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
