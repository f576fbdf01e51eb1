"""The synthesized template: workflow shape, retries and catches, the Spot path, bundled assets."""

import importlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from kops_lambda.constants import ONBOARDING_STEPS, SPOT_DETAIL_TYPES, SPOT_STATE_CHANGE_DETAIL_TYPE
from kops_lambda.errors import RETRYABLE_ERROR_NAMES
from stacks.constructs.bundling import lambda_python


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def _definition(template_json: dict[str, Any]) -> dict[str, Any]:
    """The state machine's ASL, with the function ARNs left as placeholders."""
    (machine,) = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "FUNCTION_ARN" for part in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_onboarding_has_one_lambda_task_per_step_in_order(template_json: dict[str, Any]) -> None:
    # Given the synthesized definition
    definition = _definition(template_json)
    states = definition["States"]
    # When we walk it from the start
    order, name = [], states[definition["StartAt"]]["Next"]
    while states[name]["Type"] == "Task":
        order.append(name)
        name = states[name]["Next"]
    # Then every step is a Lambda task, in the documented order, ending in success
    assert order == [state for state, _ in ONBOARDING_STEPS]
    assert states[name]["Type"] == "Succeed"
    for state, result_key in ONBOARDING_STEPS:
        assert states[state]["ResultPath"] == f"$.{result_key}"


def test_every_step_retries_named_errors_with_jitter_and_catches_the_rest(
    template_json: dict[str, Any],
) -> None:
    states = _definition(template_json)["States"]
    for state, _ in ONBOARDING_STEPS:
        retries = states[state]["Retry"]
        named = [r for r in retries if set(r["ErrorEquals"]) == set(RETRYABLE_ERROR_NAMES)]
        assert named, f"{state} does not retry the retryable errors"
        assert all(r["JitterStrategy"] == "FULL" for r in retries)
        assert all("States.ALL" not in r["ErrorEquals"] for r in retries), "retrying everything hides bugs"
        (catch,) = states[state]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert states[catch["Next"]]["Type"] == "Fail"
        assert catch["ResultPath"] == "$.error"


def test_failure_state_carries_the_original_error(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    (fail,) = [s for s in states.values() if s["Type"] == "Fail"]
    assert fail["ErrorPath"] == "$.error.Error"
    assert fail["CausePath"] == "$.error.Cause"


def test_state_machine_is_standard_traced_and_logs_no_execution_data(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"IncludeExecutionData": False, "Level": "ALL"}),
        },
    )


def test_spot_rules_match_interruption_events_into_a_queue_with_dlq(
    template: Template, template_json: dict[str, Any]
) -> None:
    # Warnings and rebalance recommendations as they come; state changes only when the instance is going away
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": {"source": ["aws.ec2"], "detail-type": list(SPOT_DETAIL_TYPES)}, "State": "ENABLED"},
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.ec2"],
                "detail-type": [SPOT_STATE_CHANGE_DETAIL_TYPE],
                "detail": {"state": ["stopping", "shutting-down", "terminated"]},
            },
            "State": "ENABLED",
        },
    )
    queues = template.find_resources("AWS::SQS::Queue", {"Properties": {"RedrivePolicy": Match.any_value()}})
    (queue_id,) = queues
    rules = template.find_resources("AWS::Events::Rule").values()
    assert len(rules) == 2
    for rule in rules:
        assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert queues[queue_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def _spot_function(template: Template) -> dict[str, Any]:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "kops_lambda.handlers.spot_interruption.handler"}}
    ).values()
    return function


def test_spot_settings_reach_the_function_with_their_documented_defaults(template: Template) -> None:
    variables = _spot_function(template)["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k.startswith("SPOT_")} == {
        "SPOT_DRY_RUN": "false",
        "SPOT_WARNING_ACTION": "drain",
        "SPOT_REBALANCE_ACTION": "taint",
        "SPOT_STATE_CHANGE_ACTION": "drain",
        "SPOT_DEADLINE_MARGIN_SECONDS": "15",
        "SPOT_EVICTION_CONCURRENCY": "32",
        "SPOT_EARLY_REPLACEMENT": "true",
        "SPOT_FORCE_DELETE": "false",
    }


def test_spot_settings_come_from_context_and_bad_values_fail_the_synth() -> None:
    from aws_cdk import App, Stack

    from kops_lambda.errors import InvalidSettings
    from stacks.spot import spot_settings

    # Given context as the CDK CLI passes it (strings)
    app = App(context={"spotRebalanceAction": "cordon", "spotEvictionConcurrency": "8", "spotForceDelete": "true"})
    settings = spot_settings(Stack(app, "S"), dry_run=True)
    assert (settings.rebalance_action, settings.eviction_concurrency, settings.force_delete) == ("cordon", 8, True)
    assert settings.dry_run
    # And a value outside the documented ones
    with pytest.raises(InvalidSettings, match="warning_action"):
        spot_settings(Stack(App(context={"spotWarningAction": "explode"}), "S"), dry_run=False)


def test_spot_handler_may_detach_only_from_kops_tagged_groups(template: Template) -> None:
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "autoscaling:DetachInstances" in statement["Action"]
    ]
    (statement,) = statements
    assert statement["Condition"] == {"Null": {"aws:ResourceTag/KubernetesCluster": "false"}}
    assert "autoScalingGroupName/*" in json.dumps(statement["Resource"])


def test_tables_and_key(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 2)
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"KeySchema": [{"AttributeName": "cluster_key", "KeyType": "HASH"}]}
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True}}
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_functions_share_one_factory_configuration(template: Template) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == len(ONBOARDING_STEPS) + 1
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Handler"].startswith("kops_lambda.handlers.")
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_all_functions_use_one_bundled_asset(template_json: dict[str, Any], template_path: Path) -> None:
    # Given the asset every function points at
    functions = [r for r in template_json["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    keys = {json.dumps(f["Properties"]["Code"]["S3Key"]) for f in functions}
    assert len(keys) == 1
    assets = json.loads((template_path.parent / "KopsOnboard.assets.json").read_text())["files"]
    (asset,) = [a for a in assets.values() if a["source"].get("packaging") == "zip"]
    bundle = template_path.parent / asset["source"]["path"]
    # Then it holds our code and its dependencies, without the asyncio client, with bytecode
    assert (bundle / "kops_lambda" / "handlers" / "validate_cluster.py").is_file()
    assert (bundle / "kubernetes" / "client").is_dir()
    assert (bundle / "aws_lambda_powertools").is_dir()
    assert (bundle / "pydantic_core").is_dir()
    assert not (bundle / "kubernetes" / "aio").exists()
    assert not (bundle / "boto3").exists()
    assert list((bundle / "kops_lambda" / "handlers" / "__pycache__").glob("*.cpython-313.pyc"))


def test_bundle_imports_every_handler_on_the_lambda_python(
    template_json: dict[str, Any], template_path: Path, tmp_path: Path
) -> None:
    # Given the bundle and a local interpreter of the Lambda's Python version
    interpreter = lambda_python()
    assert interpreter, "python3.13 is needed to compile and check the Lambda bundle"
    assets = json.loads((template_path.parent / "KopsOnboard.assets.json").read_text())["files"]
    (asset,) = [a for a in assets.values() if a["source"].get("packaging") == "zip"]
    bundle = template_path.parent / asset["source"]["path"]
    handlers = sorted(
        {
            r["Properties"]["Handler"]
            for r in template_json["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
        }
    )
    # And, standing in for the Lambda runtime, only the AWS SDK it provides (pure Python)
    runtime_sdk = tmp_path / "runtime"
    runtime_sdk.mkdir()
    for module in ("boto3", "botocore", "s3transfer"):
        (runtime_sdk / module).symlink_to(Path(importlib.import_module(module).__file__ or "").parent)
    script = "import importlib, sys\n" + "".join(
        f"importlib.import_module({h.rsplit('.', 1)[0]!r})\n" for h in handlers
    )
    # When every handler module is imported from the bundle alone (plus the SDK)
    result = subprocess.run(
        [
            interpreter,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = [{str(bundle)!r}]; sys.path.append({str(runtime_sdk)!r})\n{script}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # Then nothing is missing from the bundle
    assert result.returncode == 0, result.stderr[-2000:]
