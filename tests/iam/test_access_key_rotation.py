"""The access-key rotation role's statements (stacks.access_key_rotation.rotation_statements), decided by PMapper:
create, list and delete the access keys of the users onboarding made (cast-kops-*, tagged managed-by) and store
a new version of those clusters' access-key secrets; read the registry's cluster list and status, take the lease;
nothing beyond: no other user, no other secret, no other registry item, no way to admin."""

from typing import Any

import pytest

from stacks.access_key_rotation import rotation_statements
from tests.iam.conftest import PMAPPER_PYTHON, _pmapper

ACCOUNT, REGION = "111122223333", "eu-west-1"
IAM = f"arn:aws:iam::{ACCOUNT}"
SM = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret"
REGISTRY = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/KopsOnboard-ClusterRegistry"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0f0f0f-0000-4000-8000-000000000000"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:key-rotations"
TOPIC_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1f1f1f1f-0000-4000-8000-000000000000"
EXECUTIONS = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:*"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kops-onboard-access-key-rotation"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
USER_A = f"{IAM}:user/cast-kops-a.k8s.local"
SECRET_A = f"{SM}:kops-onboard/clusters/a.k8s.local/access-key-AbCdEf"
OURS = {"aws:ResourceTag/managed-by": "kops-onboard"}
OURS_SECRET = {**OURS, "secretsmanager:ResourceTag/managed-by": "kops-onboard"}
VIA_SM = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
LEASE = {"dynamodb:LeadingKeys": ["lease#eu-west-1#a.k8s.local"]}
MARKER = {"dynamodb:LeadingKeys": ["creating#access-key#a.k8s.local"]}
CLUSTER_ITEM = {"dynamodb:LeadingKeys": ["eu-west-1#a.k8s.local"]}

ALLOWED = [
    ("iam:ListAccessKeys", USER_A, OURS),
    ("iam:CreateAccessKey", USER_A, OURS),
    ("iam:DeleteAccessKey", USER_A, OURS),
    ("secretsmanager:GetSecretValue", SECRET_A, OURS_SECRET),
    ("secretsmanager:PutSecretValue", SECRET_A, OURS_SECRET),
    ("kms:GenerateDataKey", KEY, VIA_SM),
    ("kms:Decrypt", KEY, VIA_SM),
    (
        "dynamodb:Scan",
        REGISTRY,
        {
            "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
            "dynamodb:Attributes": ["cluster_key", "cluster_name", "region", "status", "resources"],
        },
    ),
    ("dynamodb:GetItem", REGISTRY, {**CLUSTER_ITEM, "dynamodb:Attributes": ["cluster_key", "status"]}),
    ("dynamodb:PutItem", REGISTRY, LEASE),
    ("dynamodb:GetItem", REGISTRY, LEASE),
    ("dynamodb:DeleteItem", REGISTRY, LEASE),
    ("dynamodb:PutItem", REGISTRY, MARKER),
    ("dynamodb:DeleteItem", REGISTRY, MARKER),
    ("states:DescribeExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:onboarding:run-1", {}),
    ("sns:Publish", TOPIC, {}),
    ("kms:GenerateDataKey", TOPIC_KEY, {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}),
]
DENIED = [
    # Other users: not ours by name, ours by name but not by tag, an admin
    ("iam:CreateAccessKey", f"{IAM}:user/admin", OURS),
    ("iam:CreateAccessKey", f"{IAM}:user/ci-deployer", {}),
    ("iam:CreateAccessKey", USER_A, {}),
    ("iam:DeleteAccessKey", f"{IAM}:user/admin", {}),
    ("iam:ListAccessKeys", f"{IAM}:user/admin", {}),
    # Anything else on our users: a login, a policy, a reactivated key, the user itself
    ("iam:UpdateAccessKey", USER_A, OURS),
    ("iam:CreateLoginProfile", USER_A, OURS),
    ("iam:AttachUserPolicy", USER_A, {**OURS, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("iam:PutUserPolicy", USER_A, OURS),
    ("iam:DeleteUser", USER_A, OURS),
    ("iam:CreateUser", f"{IAM}:user/cast-kops-new", {}),
    ("iam:PassRole", ROLE, {}),
    ("sts:AssumeRole", f"{IAM}:role/OrganizationAccountAccessRole", {}),
    # Other secrets: the cluster's kubeconfig, key pair and drainer; the agent key; one not tagged ours; a
    # longer name under ours; creating, deleting or opening up ours
    ("secretsmanager:GetSecretValue", f"{SM}:kops-onboard/clusters/a.k8s.local/kubeconfig-AbCdEf", OURS_SECRET),
    ("secretsmanager:PutSecretValue", f"{SM}:kops-onboard/clusters/a.k8s.local/ssh-private-key-AbCdEf", OURS_SECRET),
    ("secretsmanager:PutSecretValue", f"{SM}:kops-onboard/clusters/a.k8s.local/spot-drainer-AbCdEf", OURS_SECRET),
    ("secretsmanager:GetSecretValue", f"{SM}:kops-onboard/agent-api-key-AbCdEf", OURS_SECRET),
    ("secretsmanager:PutSecretValue", SECRET_A, {}),
    ("secretsmanager:PutSecretValue", f"{SM}:kops-onboard/clusters/a.k8s.local/access-key-old-AbCdEf", OURS_SECRET),
    ("secretsmanager:CreateSecret", SECRET_A, {}),
    ("secretsmanager:DeleteSecret", SECRET_A, OURS_SECRET),
    ("secretsmanager:PutResourcePolicy", SECRET_A, OURS_SECRET),
    ("secretsmanager:UpdateSecret", SECRET_A, OURS_SECRET),
    # The key directly or through another service, another key
    ("kms:Decrypt", KEY, {}),
    ("kms:Decrypt", KEY, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
    ("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/2f2f2f2f-0000-4000-8000-000000000000", VIA_SM),
    # The registry beyond the list, the status and the lease: whole items, cluster items written, other markers
    ("dynamodb:Scan", REGISTRY, {"dynamodb:Select": "ALL_ATTRIBUTES"}),
    ("dynamodb:GetItem", REGISTRY, CLUSTER_ITEM),
    ("dynamodb:GetItem", REGISTRY, {**CLUSTER_ITEM, "dynamodb:Attributes": ["cluster_key", "resources"]}),
    ("dynamodb:PutItem", REGISTRY, CLUSTER_ITEM),
    ("dynamodb:DeleteItem", REGISTRY, CLUSTER_ITEM),
    ("dynamodb:UpdateItem", REGISTRY, CLUSTER_ITEM),
    ("dynamodb:PutItem", REGISTRY, {"dynamodb:LeadingKeys": ["creating#key-pair#a.k8s.local"]}),
    ("dynamodb:DeleteTable", REGISTRY, {}),
    # Executions are read, never stopped or started
    ("states:StopExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:onboarding:run-1", {}),
    ("states:StartExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:onboarding", {}),
    # Other topics
    ("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms", {}),
    ("sns:Subscribe", TOPIC, {}),
]


@pytest.fixture(scope="module")
def evaluation() -> dict[str, Any]:
    if not PMAPPER_PYTHON.exists():
        pytest.fail(f"{PMAPPER_PYTHON} is missing: run `make pmapper` (make test does) to build PMapper's venv")
    statements = [
        s.to_statement_json()
        for s in rotation_statements(
            users=f"{IAM}:user/cast-kops-*",
            access_key_secrets=f"{SM}:kops-onboard/clusters/*/access-key-??????",
            registry=REGISTRY,
            executions=EXECUTIONS,
            secrets_key=KEY,
            region=REGION,
            topic_arn=TOPIC,
            topic_key_arn=TOPIC_KEY,
        )
    ]
    role = {
        "RoleName": ROLE.rsplit("/", 1)[-1],
        "RoleId": "AROAPROBEKEYROTATION1",
        "Arn": ROLE,
        "AssumeRolePolicyDocument": LAMBDA_TRUST,
        "InstanceProfileList": [],
        "RolePolicyList": [
            {"PolicyName": "rotation", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
        ],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }
    # An admin in the account: PMapper's edge search must find no way from the rotation role to it
    admin = {
        "UserName": "admin",
        "UserId": "AIDAPROBEADMIN000001",
        "Arn": f"{IAM}:user/admin",
        "UserPolicyList": [
            {
                "PolicyName": "everything",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                },
            }
        ],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }
    details = {"UserDetailList": [admin], "RoleDetailList": [role], "GroupDetailList": [], "Policies": []}
    queries = [{"principal": ROLE, "action": a, "resource": r, "context": c} for a, r, c in (*ALLOWED, *DENIED)]
    return _pmapper({"authorization_details": details, "queries": queries})


def test_the_rotation_may_do_what_a_rotation_needs(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][: len(ALLOWED)]
    assert [request for request, allowed in zip(ALLOWED, decisions, strict=True) if not allowed] == []


def test_nothing_beyond_it(evaluation: dict[str, Any]) -> None:
    decisions = evaluation["decisions"][len(ALLOWED) :]
    assert [request for request, allowed in zip(DENIED, decisions, strict=True) if allowed] == []


def test_the_rotation_role_is_no_admin_and_reaches_no_other_principal(evaluation: dict[str, Any]) -> None:
    assert evaluation["admins"] == [f"{IAM}:user/admin"]
    assert [edge for edge in evaluation["edges"] if edge[0] == ROLE] == []
