"""LocalAws as a server: reachable with boto3, one per process, AWS managed policies available."""

from __future__ import annotations

import json

import pytest

from kops_local.aws import LocalAws
from tests.local_aws.conftest import unique

MANAGED_POLICIES = [
    "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
    "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
    # Path included, as in AWS: "arn:aws:iam::aws:policy/AWSLambdaRole" does not exist there either.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
]


def test_server_answers_boto3_on_a_loopback_endpoint(local_aws: LocalAws) -> None:
    # Given the package's running LocalAws (started by the fixture; its start-up time is a bench figure)
    # When a boto3 client made by the helper calls it
    identity = local_aws.client("sts").get_caller_identity()
    queues = local_aws.client("sqs").list_queues()
    # Then it answers as the local account, on a loopback endpoint
    assert identity["Account"] == local_aws.account_id
    assert queues["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert local_aws.endpoint_url.startswith("http://127.0.0.1:")


def test_second_instance_in_same_process_is_refused(local_aws: LocalAws) -> None:
    # Given a running LocalAws (moto's state is process-global)
    other = LocalAws()
    # When another one starts, Then it is refused and the first keeps serving
    with pytest.raises(RuntimeError, match="another LocalAws"):
        other.start()
    assert local_aws.client("sqs").list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_aws_managed_policies_can_be_attached(local_aws: LocalAws) -> None:
    # Given a role
    iam = local_aws.client("iam")
    role_name = unique("policy-role")
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    # When AWS managed policies are attached to it
    for arn in MANAGED_POLICIES:
        iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
    # Then they are all attached (moto only knows them with MOTO_IAM_LOAD_MANAGED_POLICIES=true)
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert sorted(policy["PolicyArn"] for policy in attached) == sorted(MANAGED_POLICIES)
