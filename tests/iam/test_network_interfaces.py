"""The ENI statements a VPC function's role gets with the cluster network settings, decided by PMapper: they
manage network interfaces in the given subnets and security groups of this account, and reach nothing else."""

from typing import Any

import pytest

from stacks.network import network_interface_statements
from tests.iam.conftest import PMAPPER_PYTHON, _pmapper

ACCOUNT, REGION = "111122223333", "eu-west-1"
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
OTHER_ACCOUNT = f"arn:aws:ec2:{REGION}:444455556666"
SUBNETS = ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
SECURITY_GROUPS = ["sg-0123456789abcdef3"]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kops-onboard-vpc-function"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

ALLOWED = [
    ("ec2:CreateNetworkInterface", f"{EC2}:network-interface/*"),
    ("ec2:CreateNetworkInterface", f"{EC2}:subnet/{SUBNETS[1]}"),
    ("ec2:CreateNetworkInterface", f"{EC2}:security-group/{SECURITY_GROUPS[0]}"),
    ("ec2:DeleteNetworkInterface", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:AssignPrivateIpAddresses", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:UnassignPrivateIpAddresses", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:DescribeNetworkInterfaces", "*"),
    ("ec2:DescribeSubnets", "*"),
]
DENIED = [
    # Interfaces elsewhere: another subnet, another security group, another account
    ("ec2:CreateNetworkInterface", f"{EC2}:subnet/subnet-0fedcba9876543210"),
    ("ec2:CreateNetworkInterface", f"{EC2}:security-group/sg-0fedcba9876543210"),
    ("ec2:CreateNetworkInterface", f"{OTHER_ACCOUNT}:network-interface/*"),
    ("ec2:DeleteNetworkInterface", f"{OTHER_ACCOUNT}:network-interface/eni-0123456789abcdef0"),
    # What an interface could be turned into: other security groups, an instance's, shared, opened up
    ("ec2:ModifyNetworkInterfaceAttribute", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:AttachNetworkInterface", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:CreateNetworkInterfacePermission", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:AuthorizeSecurityGroupIngress", f"{EC2}:security-group/{SECURITY_GROUPS[0]}"),
    ("ec2:CreateTags", f"{EC2}:network-interface/eni-0123456789abcdef0"),
    ("ec2:RunInstances", f"{EC2}:subnet/{SUBNETS[0]}"),
    ("ec2:CreateSubnet", f"{EC2}:vpc/vpc-0123456789abcdef0"),
    ("iam:PassRole", ROLE),
]


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    if not PMAPPER_PYTHON.exists():
        pytest.fail(f"{PMAPPER_PYTHON} is missing: run `make pmapper` (make test does) to build PMapper's venv")
    statements = [s.to_statement_json() for s in network_interface_statements(EC2, SUBNETS, SECURITY_GROUPS)]
    role = {
        "RoleName": ROLE.rsplit("/", 1)[-1],
        "RoleId": "AROAPROBEVPCFUNCTION1",
        "Arn": ROLE,
        "AssumeRolePolicyDocument": LAMBDA_TRUST,
        "InstanceProfileList": [],
        "RolePolicyList": [
            {"PolicyName": "network-interfaces", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
        ],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }
    details = {"UserDetailList": [], "RoleDetailList": [role], "GroupDetailList": [], "Policies": []}
    queries = [{"principal": ROLE, "action": a, "resource": r, "context": {}} for a, r in (*ALLOWED, *DENIED)]
    return _pmapper({"authorization_details": details, "queries": queries})


def test_the_network_interfaces_lambda_needs_are_allowed(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][: len(ALLOWED)]
    assert [request for request, allowed in zip(ALLOWED, decisions, strict=True) if not allowed] == []


def test_nothing_beyond_them_is(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][len(ALLOWED) :]
    assert [request for request, allowed in zip(DENIED, decisions, strict=True) if allowed] == []
    # PMapper's own search: no admin, no path to another principal
    assert evaluation["admins"] == [] and evaluation["edges"] == []
