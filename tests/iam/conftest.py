"""Two clusters onboarded on the local system, every policy read back, the matrix evaluated once by PMapper."""

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kops_lambda.constants import access_key_secret_name, drainer_secret_name, private_key_secret_name
from kops_lambda.logic import policies
from kops_lambda.logic.iam_names import user_name
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import run_execution
from tests.iam import matrix

REPO = Path(__file__).resolve().parents[2]
# Built by `make pmapper` (which `make test` runs first).
PMAPPER_PYTHON = REPO / ".cache" / "pmapper-venv" / "bin" / "python"
EVALUATOR = Path(__file__).with_name("pmapper_evaluate.py")
VENDOR_POLICY = Path(__file__).with_name("vendor_policy.json")
CLUSTER_A, CLUSTER_B = "alpha.k8s.local", "beta.k8s.local"
NODE_A_ROLE_SUFFIX = "worst"


@dataclass(frozen=True)
class Evaluation:
    details: dict[str, Any]  # GetAccountAuthorizationDetails as onboarding left the account (+ the probes)
    facts: dict[str, str]
    principals: dict[str, str]
    ours: dict[str, bool]  # row name -> PMapper's decision
    vendor: dict[str, bool]
    edges: list[list[str]]
    admins: list[str]


@pytest.fixture(scope="package")
def local_system(template_path: Path) -> Iterator[LocalSystem]:
    with LocalSystem(template=template_path, retry_interval_scale=0.01) as system:
        yield system


def _onboard(system: LocalSystem, spec: str, *, share_vpc_of: LocalCluster | None = None) -> LocalCluster:
    cluster = system.add_cluster(ClusterSpec.parse(spec), share_vpc_of=share_vpc_of)
    result = run_execution(
        system.aws.client("stepfunctions"), system.state_machines["onboard"], cluster.onboard_input(), name_prefix="iam"
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return cluster


@pytest.fixture(scope="package")
def evaluation(local_system: LocalSystem) -> Evaluation:
    if not PMAPPER_PYTHON.exists():
        pytest.fail(f"{PMAPPER_PYTHON} is missing: run `make pmapper` (make test does) to build PMapper's venv")
    a = _onboard(local_system, f"{CLUSTER_A}:kops=1.21,nodes=2")
    # B in A's VPC and subnets (kOps' shared VPC): only tags and groups tell the clusters apart there
    b = _onboard(local_system, f"{CLUSTER_B}:kops=1.21,nodes=2", share_vpc_of=a)
    assert b.aws.vpc_id == a.aws.vpc_id
    facts = _facts(local_system, a, b)
    details = _authorization_details(local_system)
    principals = _principals(details, facts)
    details = _with_probes(details, facts, principals)
    rows = matrix.ROWS
    queries = [matrix.query(row, principals, facts) for row in rows]
    vendor_rows = [row for row in rows if row.vendor is not None]
    vendor_principals = {**principals, "A": principals["vendor-A"], "spot": principals["vendor-spot"]}
    queries += [matrix.query(row, vendor_principals, facts) for row in vendor_rows]
    answer = _pmapper({"authorization_details": details, "queries": queries})
    decisions = answer["decisions"]
    return Evaluation(
        details=details,
        facts=facts,
        principals=principals,
        ours={row.name: decision for row, decision in zip(rows, decisions[: len(rows)], strict=True)},
        vendor={row.name: decision for row, decision in zip(vendor_rows, decisions[len(rows) :], strict=True)},
        edges=answer["edges"],
        admins=answer["admins"],
    )


def _pmapper(request: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        [str(PMAPPER_PYTHON), str(EVALUATOR)],
        input=json.dumps(request, default=str),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def _authorization_details(system: LocalSystem) -> dict[str, Any]:
    """Every page merged; AWS managed policies only where something uses them (moto loads about a thousand)."""
    merged: dict[str, list[Any]] = {"UserDetailList": [], "RoleDetailList": [], "GroupDetailList": [], "Policies": []}
    for page in system.aws.client("iam").get_paginator("get_account_authorization_details").paginate():
        for key in merged:
            merged[key] += page.get(key, [])
    return merged


def _facts(system: LocalSystem, *clusters: LocalCluster) -> dict[str, str]:
    account, region = system.aws.account_id, system.region
    autoscaling: Any = system.aws.client("autoscaling")
    secrets: Any = system.aws.client("secretsmanager")
    functions: Any = system.aws.client("lambda")
    deployed = [f for page in functions.get_paginator("list_functions").paginate() for f in page["Functions"]]
    validate = next(f for f in deployed if "ValidateCluster" in f["FunctionName"])
    handler = next(f for f in deployed if f["Handler"] == "kops_lambda.handlers.spot_interruption.handler")
    plan = next(f for f in deployed if f["Handler"] == "kops_lambda.handlers.plan_onboarding.handler")
    drift = next(f for f in deployed if f["Handler"] == "kops_lambda.handlers.drift_check.handler")
    facts = {
        "account": account,
        "ec2": f"arn:aws:ec2:{region}:{account}",
        "iam": f"arn:aws:iam::{account}",
        "lambda": f"arn:aws:lambda:{region}:{account}",
        "events": f"arn:aws:events:{region}:{account}",
        "logs": f"arn:aws:logs:{region}:{account}",
        "boundary": policies.boundary_policy_arn("aws", account),
        "admin": "arn:aws:iam::aws:policy/AdministratorAccess",
        "stack_function": validate["FunctionArn"],
        "stack_role": validate["Role"],
        "handler_role": handler["Role"],
        "plan_role": plan["Role"],
        "drift_role": drift["Role"],
        "registry": system.aws.client("dynamodb").describe_table(TableName=system.output("RegistryTableName"))["Table"][
            "TableArn"
        ],
        "secretsmanager": f"arn:aws:secretsmanager:{region}:{account}",
    }
    for label, cluster in zip(("A", "B"), clusters, strict=True):
        seeded = cluster.aws
        worker, master = seeded.workers[0], seeded.masters[0]
        asg_arns = {
            g["AutoScalingGroupName"]: g["AutoScalingGroupARN"]
            for g in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(seeded.asg_names))[
                "AutoScalingGroups"
            ]
        }
        facts |= {
            label: cluster.name,
            f"{label}.vpc": seeded.vpc_id,
            f"{label}.subnet": seeded.subnet_ids[worker.az],
            f"{label}.nodes_sg": seeded.security_group_ids["nodes"],
            f"{label}.masters_sg": seeded.security_group_ids["masters"],
            f"{label}.nodes_lt": seeded.launch_template_ids[worker.asg_name],
            f"{label}.master_lt": seeded.launch_template_ids[master.asg_name],
            f"{label}.worker": worker.instance_id,
            f"{label}.master": master.instance_id,
            f"{label}.nodes_asg": asg_arns[worker.asg_name],
            f"{label}.master_asg": asg_arns[master.asg_name],
            f"{label}.prefix": policies.cluster_prefix(cluster.name),
            f"{label}.user": user_name(cluster.name),
            f"{label}.access_key_secret": secrets.describe_secret(SecretId=access_key_secret_name(cluster.name))["ARN"],
            f"{label}.private_key_secret": secrets.describe_secret(SecretId=private_key_secret_name(cluster.name))[
                "ARN"
            ],
            f"{label}.drainer_secret": secrets.describe_secret(SecretId=drainer_secret_name(cluster.name))["ARN"],
            f"{label}.kubeconfig_secret": cluster.kubeconfig_secret_arn,
        }
    facts["zone"] = clusters[0].aws.workers[0].az
    return facts


def _principals(details: dict[str, Any], facts: dict[str, str]) -> dict[str, str]:
    users = {u["UserName"]: u["Arn"] for u in details["UserDetailList"]}
    roles = {r["RoleName"]: r["Arn"] for r in details["RoleDetailList"]}
    return {
        "A": users[facts["A.user"]],
        "B": users[facts["B.user"]],
        "spot": roles["CastLambdaRoleForSpot"],
        "stack": facts["stack_role"],
        "handler": facts["handler_role"],
        "plan": facts["plan_role"],
        "drift": facts["drift_role"],
        "node-A": f"{facts['iam']}:role/{facts['A.prefix']}{NODE_A_ROLE_SUFFIX}",
        "vendor-A": f"{facts['iam']}:user/vendor-{facts['A.user']}",
        "vendor-spot": f"{facts['iam']}:role/vendor-CastLambdaRoleForSpot",
    }


def _with_probes(details: dict[str, Any], facts: dict[str, str], principals: dict[str, str]) -> dict[str, Any]:
    """The account plus principals that exist only to be asked about: the worst role A could make, and A's user
    and the Spot role as the vendor's public script sets them up."""
    vendor = json.loads(matrix.fill(VENDOR_POLICY.read_text(), facts))
    node_a = {
        "RoleName": principals["node-A"].rsplit("/", 1)[-1],
        "RoleId": "AROAPROBENODEA000001",
        "Arn": principals["node-A"],
        "AssumeRolePolicyDocument": vendor["ec2_trust"],
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": "everything", "PolicyDocument": vendor["everything"]}],
        "AttachedManagedPolicies": [],
        "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": facts["boundary"]},
        "Tags": [{"Key": "KubernetesCluster", "Value": facts["A"]}],
    }
    vendor_user = {
        "UserName": principals["vendor-A"].rsplit("/", 1)[-1],
        "UserId": "AIDAPROBEVENDORA0001",
        "Arn": principals["vendor-A"],
        "UserPolicyList": [
            {"PolicyName": "CastKopsPolicyV2", "PolicyDocument": vendor["CastKopsPolicyV2"]},
            {"PolicyName": "CastKopsRestrictedAccess", "PolicyDocument": vendor["CastKopsRestrictedAccess"]},
        ],
        "AttachedManagedPolicies": [{"PolicyArn": arn} for arn in vendor["user_managed_policies"]],
        "Tags": [],
    }
    vendor_spot = {
        "RoleName": principals["vendor-spot"].rsplit("/", 1)[-1],
        "RoleId": "AROAPROBEVENDORSPOT1",
        "Arn": principals["vendor-spot"],
        "AssumeRolePolicyDocument": vendor["spot_trust"],
        "InstanceProfileList": [],
        "RolePolicyList": [],
        "AttachedManagedPolicies": [{"PolicyArn": arn} for arn in vendor["spot_managed_policies"]],
        "Tags": [],
    }
    users = [*details["UserDetailList"], vendor_user]
    roles = [*details["RoleDetailList"], node_a, vendor_spot]
    used = {p["PolicyArn"] for e in [*users, *roles] for p in e.get("AttachedManagedPolicies", [])}
    used |= {
        e["PermissionsBoundary"]["PermissionsBoundaryArn"] for e in [*users, *roles] if e.get("PermissionsBoundary")
    }
    kept = [p for p in details["Policies"] if p["Arn"] in used or not p["Arn"].startswith("arn:aws:iam::aws:")]
    return {**details, "UserDetailList": users, "RoleDetailList": roles, "Policies": kept}
