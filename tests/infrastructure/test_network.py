"""The cluster network settings: their validation, and the template they give (functions in the VPC, their
ENI permissions, the opt-in endpoints), cdk-nag and cfn-lint clean; none of it without them."""

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from stacks.app_builder import STACK_NAME, _cdk_json_context, build_app
from stacks.network import (
    ENDPOINTS_KEY,
    GATEWAY_ENDPOINTS,
    IAM_ENDPOINT,
    INTERFACE_ENDPOINTS,
    ROUTE_TABLES_KEY,
    SECURITY_GROUPS_KEY,
    SUBNETS_KEY,
    VPC_KEY,
    ClusterNetworkSettings,
    InvalidNetworkSettings,
    network_settings_from,
)

README = Path(__file__).resolve().parents[2] / "README.md"
VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]
SECURITY_GROUPS = ["sg-0123456789abcdef3", "sg-01234567"]
ROUTE_TABLES = ["rtb-0123456789abcdef4"]
PLACEMENT = {VPC_KEY: VPC, SUBNETS_KEY: ",".join(SUBNETS), SECURITY_GROUPS_KEY: SECURITY_GROUPS}

# The handlers that build a Kubernetes client (marked `cluster` in kops_lambda/workflow.py, Spot).
CLUSTER_FACING_HANDLERS = {
    "record_baseline",
    "validate_cluster",
    "map_identity",
    "issue_drainer_credential",
    "install_agent",
    "plan_onboarding",
    "cleanup_identity_mapping",
    "cleanup_drainer",
    "cleanup_agent",
    "spot_interruption",
    "spot_canary",
    "drift_check",
}
ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
# ValidateCluster's discovery reads subnets in any case.
INTERFACE_ACTIONS = ENI_ACTIONS - {"ec2:DescribeSubnets"}


# ---- Validation (no synth) ----


def test_no_setting_means_no_network() -> None:
    assert network_settings_from({}) is None
    assert network_settings_from({ENDPOINTS_KEY: "false"}) is None


def test_lists_comma_separated_and_json_strings_are_read_alike() -> None:
    expected = ClusterNetworkSettings(vpc_id=VPC, subnet_ids=tuple(SUBNETS), security_group_ids=tuple(SECURITY_GROUPS))
    assert network_settings_from(PLACEMENT) == expected
    as_json = {**PLACEMENT, SUBNETS_KEY: json.dumps(SUBNETS), SECURITY_GROUPS_KEY: " , ".join(SECURITY_GROUPS)}
    assert network_settings_from(as_json) == expected


def test_endpoints_take_the_route_tables() -> None:
    settings = network_settings_from({**PLACEMENT, ENDPOINTS_KEY: "True", ROUTE_TABLES_KEY: ROUTE_TABLES})
    assert settings is not None
    assert settings.vpc_endpoints and settings.route_table_ids == tuple(ROUTE_TABLES)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({VPC_KEY: VPC}, f"{SUBNETS_KEY}, {SECURITY_GROUPS_KEY}: required with {VPC_KEY}"),
        ({**PLACEMENT, VPC_KEY: None}, f"{VPC_KEY}: required with {SECURITY_GROUPS_KEY}, {SUBNETS_KEY}"),
        ({ENDPOINTS_KEY: "true"}, f"{VPC_KEY}, {SUBNETS_KEY}, {SECURITY_GROUPS_KEY}: required with {ENDPOINTS_KEY}"),
        ({**PLACEMENT, ENDPOINTS_KEY: "true"}, f"{ROUTE_TABLES_KEY}: required with {ENDPOINTS_KEY}=true"),
        ({**PLACEMENT, ROUTE_TABLES_KEY: ROUTE_TABLES}, f"{ROUTE_TABLES_KEY}: only used with {ENDPOINTS_KEY}=true"),
        ({**PLACEMENT, ENDPOINTS_KEY: "yes"}, f"{ENDPOINTS_KEY}: expected true or false"),
        ({**PLACEMENT, VPC_KEY: "vpc-xyz"}, f"{VPC_KEY}: not vpc-<8 or 17 hex digits>: vpc-xyz"),
        ({**PLACEMENT, VPC_KEY: f"{VPC},{VPC[:-1]}1"}, f"{VPC_KEY}: at most 1"),
        ({**PLACEMENT, SUBNETS_KEY: "sg-0123456789abcdef3"}, f"{SUBNETS_KEY}: not subnet-"),
        ({**PLACEMENT, SUBNETS_KEY: " , "}, f"{SUBNETS_KEY}: at least one"),
        ({**PLACEMENT, SUBNETS_KEY: "[subnet-01234567"}, f"context {SUBNETS_KEY} is not a JSON list"),
        ({**PLACEMENT, SUBNETS_KEY: {"a": 1}}, f"context {SUBNETS_KEY} must be a list of strings"),
        ({**PLACEMENT, SUBNETS_KEY: [SUBNETS[0], SUBNETS[0]]}, f"{SUBNETS_KEY}: an id is given twice"),
        ({**PLACEMENT, SECURITY_GROUPS_KEY: [f"sg-0{n}234567" for n in range(6)]}, f"{SECURITY_GROUPS_KEY}: at most 5"),
    ],
)
def test_a_bad_or_incomplete_combination_names_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidNetworkSettings, match=message.replace("[", r"\[")):
        network_settings_from(values)


def test_a_bad_setting_fails_the_synth(tmp_path: Path) -> None:
    with pytest.raises(InvalidNetworkSettings, match=SUBNETS_KEY):
        build_app(tmp_path, context=_cdk_json_context() | {VPC_KEY: VPC, SECURITY_GROUPS_KEY: SECURITY_GROUPS})


# ---- The synthesized template ----


def _synth(outdir: Path, settings: dict[str, object]) -> tuple[Path, dict[str, Any]]:
    """Synthesized with cdk-nag (an unacknowledged finding raises); the template's path and content."""
    assembly = build_app(outdir, context=_cdk_json_context() | settings).synth()
    path = Path(assembly.get_stack_by_name(STACK_NAME).template_full_path)
    return path, json.loads(path.read_text())


@pytest.fixture(scope="module")
def with_endpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    settings = {**PLACEMENT, ENDPOINTS_KEY: "true", ROUTE_TABLES_KEY: ",".join(ROUTE_TABLES)}
    return _synth(tmp_path_factory.mktemp("network-endpoints"), settings)


@pytest.fixture(scope="module")
def without_endpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _synth(tmp_path_factory.mktemp("network"), PLACEMENT)


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: r for key, r in template["Resources"].items() if r["Type"] == kind}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Handler module name → the function's properties."""
    return {
        r["Properties"]["Handler"].split(".")[2]: r["Properties"]
        for r in _resources(template, "AWS::Lambda::Function").values()
    }


def _statements_by_role(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    statements: dict[str, list[dict[str, Any]]] = {}
    for policy in _resources(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            statements.setdefault(role["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _allowed(statements: list[dict[str, Any]], among: set[str]) -> set[str]:
    return {action for s in statements for action in _actions(s) if action in among}


def test_the_default_template_has_no_network(template_json: dict[str, Any]) -> None:
    # Given the default context (cdk.json), no function is in a VPC and nothing of EC2 networking is created
    assert all("VpcConfig" not in f for f in _functions(template_json).values())
    assert not [r for r in template_json["Resources"].values() if r["Type"].startswith("AWS::EC2::")]
    assert all(not _allowed(s, INTERFACE_ACTIONS) for s in _statements_by_role(template_json).values())


@pytest.mark.parametrize("variant", ["with_endpoints", "without_endpoints"])
def test_exactly_the_cluster_facing_functions_run_in_the_vpc(variant: str, request: pytest.FixtureRequest) -> None:
    _, template = request.getfixturevalue(variant)
    functions = _functions(template)
    in_vpc = {name for name, f in functions.items() if "VpcConfig" in f}
    assert in_vpc == CLUSTER_FACING_HANDLERS
    for name in in_vpc:
        assert functions[name]["VpcConfig"] == {"SubnetIds": SUBNETS, "SecurityGroupIds": SECURITY_GROUPS}, name


def test_only_the_vpc_functions_roles_manage_network_interfaces(
    without_endpoints: tuple[Path, dict[str, Any]],
) -> None:
    _, template = without_endpoints
    statements = _statements_by_role(template)
    vpc_roles = {f["Role"]["Fn::GetAtt"][0] for f in _functions(template).values() if "VpcConfig" in f}
    # The canary runs as the Spot handler's role: one role fewer than functions
    assert len(vpc_roles) == len(CLUSTER_FACING_HANDLERS) - 1
    for role, role_statements in statements.items():
        if role in vpc_roles:
            assert _allowed(role_statements, ENI_ACTIONS) == ENI_ACTIONS, role
        else:
            assert not _allowed(role_statements, INTERFACE_ACTIONS), role
    # No managed policy (AWSLambdaVPCAccessExecutionRole) on any role
    assert all("ManagedPolicyArns" not in r["Properties"] for r in _resources(template, "AWS::IAM::Role").values())
    # Creating an interface is limited to the given subnets and security groups (and interfaces of this account)
    (create,) = [s for s in statements[next(iter(vpc_roles))] if "ec2:CreateNetworkInterface" in _actions(s)]
    resources = json.dumps(create["Resource"])
    for resource_id in (*SUBNETS, *SECURITY_GROUPS):
        assert resources.count(f'/{resource_id}"') == 1
    assert resources.count(":subnet/") == len(SUBNETS) and resources.count(":security-group/") == len(SECURITY_GROUPS)
    # Each VPC function is created only after its role may manage its interfaces
    granting = {
        p["Properties"]["Roles"][0]["Ref"]: key
        for key, p in _resources(template, "AWS::IAM::Policy").items()
        if _allowed(p["Properties"]["PolicyDocument"]["Statement"], {"ec2:CreateNetworkInterface"})
    }
    for function in _resources(template, "AWS::Lambda::Function").values():
        if "VpcConfig" in function["Properties"]:
            assert granting[function["Properties"]["Role"]["Fn::GetAtt"][0]] in function["DependsOn"]


def test_the_vpc_functions_are_those_given_a_cluster_credential(
    without_endpoints: tuple[Path, dict[str, Any]],
) -> None:
    # Reading a kubeconfig or a drainer credential is for talking to the cluster: a new such step not marked
    # `cluster` in kops_lambda/workflow.py fails here, and so does a function in the VPC that has no reason to be
    _, template = without_endpoints
    credential_sids = {"ReadClusterKubeconfigs", "ReadDrainerCredentials"}
    readers = {
        role
        for role, statements in _statements_by_role(template).items()
        if any(s.get("Sid") in credential_sids for s in statements)
    }
    vpc_roles = {f["Role"]["Fn::GetAtt"][0] for f in _functions(template).values() if "VpcConfig" in f}
    assert readers == vpc_roles


def test_endpoints_only_on_opt_in(
    with_endpoints: tuple[Path, dict[str, Any]], without_endpoints: tuple[Path, dict[str, Any]]
) -> None:
    _, template = without_endpoints
    assert not _resources(template, "AWS::EC2::VPCEndpoint")
    assert not _resources(template, "AWS::EC2::SecurityGroup")
    # Opted in: one interface endpoint per service the functions call, with private DNS, in their subnets
    _, template = with_endpoints
    endpoints = list(_resources(template, "AWS::EC2::VPCEndpoint").values())
    interface = [e for e in endpoints if e["Properties"]["VpcEndpointType"] == "Interface"]
    gateway = [e for e in endpoints if e["Properties"]["VpcEndpointType"] == "Gateway"]
    assert {_service(e) for e in interface} == {"sts", "secretsmanager", "ec2", "autoscaling", "states", "iam"}
    assert len(interface) == len(INTERFACE_ENDPOINTS) + 1  # + IAM_ENDPOINT
    assert {_service(e) for e in gateway} == {"dynamodb", "s3"}
    (security_group,) = _resources(template, "AWS::EC2::SecurityGroup")
    for endpoint in interface:
        properties = endpoint["Properties"]
        assert properties["PrivateDnsEnabled"] is True
        assert properties["SubnetIds"] == SUBNETS and properties["VpcId"] == VPC
        assert properties["SecurityGroupIds"] == [{"Fn::GetAtt": [security_group, "GroupId"]}]
    for endpoint in gateway:
        assert endpoint["Properties"]["RouteTableIds"] == ROUTE_TABLES and endpoint["Properties"]["VpcId"] == VPC
    # IAM's endpoint exists in us-east-1 only: created there alone
    (iam_endpoint,) = [e for e in interface if _service(e) == "iam"]
    assert template["Conditions"][iam_endpoint["Condition"]] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert all("Condition" not in e for e in endpoints if e is not iam_endpoint)


def _service(endpoint: dict[str, Any]) -> str:
    name = endpoint["Properties"]["ServiceName"]
    text = name if isinstance(name, str) else "".join(p for p in name["Fn::Join"][1] if isinstance(p, str))
    return text.rsplit(".", 1)[-1]


def test_the_endpoints_admit_https_from_the_functions_security_groups_only(
    with_endpoints: tuple[Path, dict[str, Any]],
) -> None:
    _, template = with_endpoints
    (security_group,) = _resources(template, "AWS::EC2::SecurityGroup").values()
    ingress = security_group["Properties"]["SecurityGroupIngress"]
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in ingress} == {
        ("tcp", 443, 443, group) for group in SECURITY_GROUPS
    }
    assert all("CidrIp" not in r for r in ingress)
    # No egress: CDK's placeholder rule that matches nothing
    (egress,) = security_group["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"
    assert not _resources(template, "AWS::EC2::SecurityGroupIngress")


@pytest.mark.parametrize("variant", ["with_endpoints", "without_endpoints"])
def test_cdk_nag_and_cfn_lint_stay_clean(variant: str, request: pytest.FixtureRequest) -> None:
    # The synth raised on any unacknowledged cdk-nag finding; its report says so too
    path, _ = request.getfixturevalue(variant)
    assert "failure" not in (path.parent / "validation-report.json").read_text()
    matches = lint_file(path, config=ManualArgs(ignore_checks=["W3005"], regions=["us-east-1", "eu-west-1"]))
    assert [str(m) for m in matches] == []


def test_the_readme_gives_every_endpoint_and_its_reason() -> None:
    readme = README.read_text()
    for endpoint in (*INTERFACE_ENDPOINTS, IAM_ENDPOINT, *GATEWAY_ENDPOINTS):
        assert endpoint.reason in readme, endpoint.name
