"""Context spotRegions: a forwarder stack per region besides the home one, with the home Spot rules, each
sending to the home region's default bus through a role that may only put events there; the Spot handler
may detach instances in exactly those regions; ValidateCluster and the stack outputs learn them."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api

from kops_lambda.constants import ENV_SPOT_REGIONS, TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, spot_forwarder_stack_name
from kops_lambda.errors import InvalidSettings
from stacks.app_builder import STACK_NAME, _cdk_json_context, build_app
from tests.infrastructure.conftest import FORWARDED_REGIONS, HOME_REGION

HOME_BUS = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, f":events:{HOME_REGION}:", {"Ref": "AWS::AccountId"}, ":event-bus/default"],
    ]
}


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def _template(assembly: cx_api.CloudAssembly, stack_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = assembly.get_stack_by_name(stack_name).template
    return loaded


def _function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    (function,) = [
        r for r in _resources(template, "AWS::Lambda::Function").values() if r["Properties"]["Handler"] == handler
    ]
    return function


def _home_spot_patterns(home: dict[str, Any]) -> list[Any]:
    patterns = [
        r["Properties"]["EventPattern"]
        for r in _resources(home, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") in (["aws.ec2"], ["aws.autoscaling"], ["aws.health"])
    ]
    return sorted(patterns, key=json.dumps)


def test_the_default_synth_has_the_home_stack_only(template_path: Path, template_json: dict[str, Any]) -> None:
    # Given the default synth (no spotRegions): its manifest lists one stack
    manifest = json.loads((template_path.parent / "manifest.json").read_text())
    stacks = [name for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"]
    assert stacks == [STACK_NAME]
    # and the stack's own region is the one covered
    validate = _function(template_json, "kops_lambda.handlers.validate_cluster.handler")
    assert validate["Properties"]["Environment"]["Variables"][ENV_SPOT_REGIONS] == {"Ref": "AWS::Region"}
    assert template_json["Outputs"]["SpotRegions"]["Value"] == {"Ref": "AWS::Region"}


def test_one_forwarder_stack_per_region_besides_the_home_one(spot_regions_assembly: cx_api.CloudAssembly) -> None:
    stacks = {s.stack_name: s.environment.region for s in spot_regions_assembly.stacks}
    assert stacks == {STACK_NAME: HOME_REGION, **{spot_forwarder_stack_name(r): r for r in FORWARDED_REGIONS}}


@pytest.mark.parametrize("region", FORWARDED_REGIONS)
def test_a_forwarder_has_the_home_rules_and_targets_the_home_bus(
    spot_regions_assembly: cx_api.CloudAssembly, region: str
) -> None:
    home = _template(spot_regions_assembly, STACK_NAME)
    forwarder = _template(spot_regions_assembly, spot_forwarder_stack_name(region))
    rules = _resources(forwarder, "AWS::Events::Rule")
    (role_id,) = _resources(forwarder, "AWS::IAM::Role")
    # The same event patterns as the home stack's Spot rules, but for the forwarder's own region (its bus sees
    # no other); the home rules take every covered region, as forwarded events keep theirs
    patterns = sorted((r["Properties"]["EventPattern"] for r in rules.values()), key=json.dumps)
    assert {tuple(p.pop("region")) for p in patterns} == {(region,)}
    home_patterns = _home_spot_patterns(home)
    assert {tuple(p.pop("region")) for p in home_patterns} == {(HOME_REGION, *FORWARDED_REGIONS)}
    assert patterns == home_patterns and len(patterns) == 4
    # each sending to the home region's default bus, through the forwarder's role
    for rule in rules.values():
        assert rule["Properties"]["Targets"] == [
            {"Arn": HOME_BUS, "Id": "Target0", "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}
        ]
        assert {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE} in rule["Properties"]["Tags"]


@pytest.mark.parametrize("region", FORWARDED_REGIONS)
def test_the_forwarder_role_may_only_put_events_on_the_home_bus(
    spot_regions_assembly: cx_api.CloudAssembly, region: str
) -> None:
    forwarder = _template(spot_regions_assembly, spot_forwarder_stack_name(region))
    ((role_id, role),) = _resources(forwarder, "AWS::IAM::Role").items()
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
    (policy,) = _resources(forwarder, "AWS::IAM::Policy").values()
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": HOME_BUS}
    ]
    # Nothing else in the stack: rules, the role, its policy
    kinds = {r["Type"] for r in forwarder["Resources"].values()} - {"AWS::CDK::Metadata"}
    assert kinds == {"AWS::Events::Rule", "AWS::IAM::Role", "AWS::IAM::Policy"}


def test_the_spot_handler_may_detach_instances_in_exactly_the_covered_regions(
    spot_regions_assembly: cx_api.CloudAssembly,
) -> None:
    home = _template(spot_regions_assembly, STACK_NAME)
    (statement,) = [
        s
        for p in _resources(home, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "EarlyReplacement"
    ]
    regions = sorted(arn["Fn::Join"][1][2].split(":")[2] for arn in statement["Resource"])
    assert regions == sorted((HOME_REGION, *FORWARDED_REGIONS))
    assert statement["Condition"]["Null"]["aws:ResourceTag/KubernetesCluster"] == "false"


def test_validate_cluster_and_the_outputs_name_the_covered_regions(
    spot_regions_assembly: cx_api.CloudAssembly,
) -> None:
    home = _template(spot_regions_assembly, STACK_NAME)
    covered = ",".join((HOME_REGION, *FORWARDED_REGIONS))
    validate = _function(home, "kops_lambda.handlers.validate_cluster.handler")
    assert validate["Properties"]["Environment"]["Variables"][ENV_SPOT_REGIONS] == covered
    assert home["Outputs"]["SpotRegions"]["Value"] == covered
    # The Spot handler rejects events of any other region
    spot = _function(home, "kops_lambda.handlers.spot_interruption.handler")
    assert spot["Properties"]["Environment"]["Variables"][ENV_SPOT_REGIONS] == covered


@pytest.mark.parametrize(
    "value", ["eu-west-1,not-a-region", ["us-east-1", 5], "EU-WEST-1", {"eu-west-1": True}, "eu-west-1;us-west-2"]
)
def test_a_bad_spot_regions_value_fails_the_synth(tmp_path: Path, value: object) -> None:
    with pytest.raises(InvalidSettings, match="spotRegions"):
        build_app(tmp_path, context=_cdk_json_context() | {"spotRegions": value}, region=HOME_REGION)


def test_other_regions_need_a_known_home_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment-agnostic stack (no region from the CLI)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    # When spotRegions names another region, then the synth fails saying why
    with pytest.raises(InvalidSettings, match=r"spotRegions names eu-west-1 .* AWS_REGION"):
        build_app(tmp_path, context=_cdk_json_context() | {"spotRegions": ["eu-west-1"]})


@pytest.mark.parametrize("sid", ["ClusterKeyPairs", "TagKeyPairsAtCreation", "RemoveClusterKeyPairs"])
def test_key_pairs_may_be_made_and_removed_in_exactly_the_covered_regions(
    spot_regions_assembly: cx_api.CloudAssembly, sid: str
) -> None:
    # A cluster's key pair is made in its own region (CreateKeyPair, rollback and offboarding follow it there)
    home = _template(spot_regions_assembly, STACK_NAME)
    (statement,) = [
        s
        for p in _resources(home, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == sid
    ]
    regions = sorted(arn["Fn::Join"][1][2].split(":")[2] for arn in statement["Resource"])
    assert regions == sorted((HOME_REGION, *FORWARDED_REGIONS))
