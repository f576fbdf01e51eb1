"""The synthesized template: workflow shape, retries and catches, the Spot path, bundled assets."""

import importlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from kops_lambda.constants import SPOT_DETAIL_TYPES, SPOT_STATE_CHANGE_DETAIL_TYPE
from kops_lambda.errors import IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES, RETRYABLE_ERROR_NAMES
from kops_lambda.workflow import (
    CLEANUP_GROUPS,
    DISCARD_BASELINE,
    OFFBOARDING,
    ONBOARDING,
    PLAN_STATE,
    RECORD_BASELINE,
    ROLLBACK,
    ROLLBACK_ENTRY,
)
from stacks.constructs.bundling import lambda_python


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def _definition(template_json: dict[str, Any], workflow: str = "Onboarding") -> dict[str, Any]:
    """A state machine's ASL (by its construct: Onboarding, Offboarding or Compensation), function ARNs as
    placeholders."""
    (machine,) = [
        r
        for logical_id, r in template_json["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and logical_id.startswith(f"{workflow}StateMachine")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "FUNCTION_ARN" for part in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _walk(states: dict[str, Any], start: str) -> tuple[list[str], str]:
    """Task states along Next from `start`, and the first non-task state reached."""
    order, name = [], start
    while states[name]["Type"] == "Task":
        order.append(name)
        name = states[name]["Next"]
    return order, name


def shape(definition: dict[str, Any]) -> tuple[int, int]:
    """(states, transitions): every Next and every Catch edge."""
    states = definition["States"]
    edges = sum(("Next" in s) + len(s.get("Catch", [])) for s in states.values())
    return len(states), edges


def test_onboarding_has_one_lambda_task_per_step_in_order(template_json: dict[str, Any]) -> None:
    # Given the synthesized definition
    definition = _definition(template_json)
    states = definition["States"]
    # When we walk it from the start (an input without plan_only: true)
    choice = states[states[definition["StartAt"]]["Next"]]
    order, end = _walk(states, choice["Default"])
    # Then the baseline comes first, then every step, in the documented order, then the baseline is
    # discarded, ending in success
    steps = [RECORD_BASELINE, *ONBOARDING]
    assert order == [*(step.state for step in steps), DISCARD_BASELINE.state]
    assert states[end]["Type"] == "Succeed"
    for step in steps:
        assert states[step.state]["ResultPath"] == f"$.{step.result_key}"


def test_plan_only_branches_before_the_lease_to_the_plan_whose_result_is_the_output(
    template_json: dict[str, Any],
) -> None:
    definition = _definition(template_json)
    states = definition["States"]
    # Given the state after Start: a choice on $.input.plan_only, guarded by IsPresent (absent: onboarding)
    choice = states[states[definition["StartAt"]]["Next"]]
    (branch,) = choice["Choices"]
    assert branch["And"] == [
        {"Variable": "$.input.plan_only", "IsPresent": True},
        {"Variable": "$.input.plan_only", "BooleanEquals": True},
    ]
    assert choice["Default"] == RECORD_BASELINE.state
    # Then plan_only: true runs the plan, before RecordBaseline takes the lease, and ends with its result alone
    plan = states[branch["Next"]]
    assert branch["Next"] == PLAN_STATE and plan["Type"] == "Task"
    assert plan["ResultPath"] == "$" and "Catch" not in plan  # its error is the execution's, nothing to undo
    assert states[plan["Next"]]["Type"] == "Succeed"


# What the plan's role may do: read, and decrypt what it reads (the kubeconfig secrets); besides, as every
# function of the factory, write its own log stream and traces.
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "ConditionCheck")
OWN_TELEMETRY = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_plan_role_may_only_read(template: Template) -> None:
    statements = _statements_of(template, "plan_onboarding")
    actions = {action for statement in statements for action in _actions(statement)}
    assert actions, "the plan's role has no statements"
    writes = {a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_PREFIXES) and a != "kms:Decrypt"}
    assert writes == OWN_TELEMETRY
    # And of all secret values, only the kubeconfigs'
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    assert [json.dumps(s["Resource"]) for s in reads] and all(
        "kubeconfig-*" in json.dumps(s["Resource"]) for s in reads
    )


def test_a_failure_to_discard_the_baseline_does_not_undo_a_complete_onboarding(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    discard = states[DISCARD_BASELINE.state]
    assert discard["ResultPath"] is None
    assert discard["Parameters"]["action"] == "discard"
    (catch,) = discard["Catch"]
    assert states[catch["Next"]]["Type"] == "Succeed" == states[discard["Next"]]["Type"]


def test_every_step_retries_named_errors_with_jitter_and_catches_the_rest_into_compensation(
    template_json: dict[str, Any],
) -> None:
    states = _definition(template_json)["States"]
    for state in (step.state for step in (RECORD_BASELINE, *ONBOARDING)):
        retries = states[state]["Retry"]
        named = [r for r in retries if set(r["ErrorEquals"]) == set(RETRYABLE_ERROR_NAMES)]
        assert named, f"{state} does not retry the retryable errors"
        assert all(r["JitterStrategy"] == "FULL" for r in retries)
        assert all("States.ALL" not in r["ErrorEquals"] for r in retries), "retrying everything hides bugs"
        (catch,) = states[state]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] == "$.error"
        assert catch["Next"] == ROLLBACK_ENTRY[state]


def test_iam_steps_retry_iam_eventual_consistency_by_name(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    for state in ("CreateIamEntities", "StoreAccessKey", "RollbackIamEntities", "RollbackAccessKey"):
        names = {name for retry in states[state]["Retry"] for name in retry["ErrorEquals"]}
        assert set(IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES) <= names, state


def test_compensation_runs_in_reverse_order_and_ends_in_the_original_error(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    # Entered anywhere, the chain runs down to RollbackRegistry, then to OnboardingFailed
    order, end = _walk(states, ROLLBACK[0].state)
    assert order == [rollback.state for rollback in ROLLBACK]
    assert end == "OnboardingFailed"
    for state, result_key in ((rollback.state, rollback.result_key) for rollback in ROLLBACK):
        assert states[state]["ResultPath"] == f"$.rollback.{result_key}"
        assert states[state]["Parameters"]["action"] == "rollback"
        assert any(set(RETRYABLE_ERROR_NAMES) <= set(r["ErrorEquals"]) for r in states[state]["Retry"])
        (catch,) = states[state]["Catch"]
        assert (catch["Next"], catch["ResultPath"]) == ("RollbackFailed", "$.rollback_error")
    # Compensation order mirrors onboarding: a later step's compensation comes earlier in the chain
    entries = [ROLLBACK_ENTRY[step.state] for step in (RECORD_BASELINE, *ONBOARDING)]
    positions = [order.index(entry) for entry in entries]
    assert positions == sorted(positions, reverse=True)


def test_failure_states_carry_the_original_error_and_the_rollback(template_json: dict[str, Any]) -> None:
    states = _definition(template_json)["States"]
    failed, rollback_failed = states["OnboardingFailed"], states["RollbackFailed"]
    assert failed["Type"] == rollback_failed["Type"] == "Fail"
    assert failed["ErrorPath"] == "$.error.Error"
    assert "$.error.Cause" in failed["CausePath"] and "States.JsonToString($.rollback)" in failed["CausePath"]
    assert rollback_failed["Error"] == "RollbackFailed"
    for path in ("$.error.Error", "$.error.Cause", "$.rollback_error.Error", "$.rollback_error.Cause"):
        assert path in rollback_failed["CausePath"]
    assert shape(_definition(template_json)) == (24, 36)


def test_offboarding_removes_resource_group_by_group_and_fails_with_the_step_error(
    template_json: dict[str, Any],
) -> None:
    definition = _definition(template_json, "Offboarding")
    states = definition["States"]
    order, end = _walk(states, states[definition["StartAt"]]["Next"])
    assert order == [offboarding.state for offboarding in OFFBOARDING]
    assert states[end]["Type"] == "Succeed"
    for state, result_key in ((offboarding.state, offboarding.result_key) for offboarding in OFFBOARDING):
        assert states[state]["ResultPath"] == f"$.{result_key}"
        assert all(r["JitterStrategy"] == "FULL" for r in states[state]["Retry"])
        (catch,) = states[state]["Catch"]
        assert catch["Next"] == "OffboardingFailed"
    assert states["OffboardingFailed"]["ErrorPath"] == "$.error.Error"
    assert states["OffboardingFailed"]["CausePath"] == "$.error.Cause"
    assert shape(definition) == (12, 19)


def test_state_machines_are_standard_traced_and_log_no_execution_data(template: Template) -> None:
    template.resource_count_is("AWS::StepFunctions::StateMachine", 3)
    template.all_resources_properties(
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
    rules = [
        rule
        for rule in template.find_resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.ec2"]
    ]
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
        "SPOT_CAPACITY_RESERVATION_ACTION": "drain",
        "SPOT_LIFECYCLE_ACTION": "drain",
        "SPOT_LIFECYCLE_HOOK_NAME": "kops-onboard-drain",
        "SPOT_SCHEDULED_CHANGE_ACTION": "drain",
        "SPOT_DEADLINE_MARGIN_SECONDS": "15",
        "SPOT_EVICTION_CONCURRENCY": "32",
        "SPOT_EARLY_REPLACEMENT": "true",
        "SPOT_FORCE_DELETE": "false",
        "SPOT_DRAIN_CONTROL_PLANE": "false",
        "SPOT_OUT_OF_SERVICE_TAINT": "false",
        # Where events are accepted from: the stack's own account and region, never what an event says
        "SPOT_ACCOUNT_ID": {"Ref": "AWS::AccountId"},
        "SPOT_REGIONS": {"Ref": "AWS::Region"},
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


def test_spot_handler_may_detach_only_from_kops_tagged_worker_groups(template: Template) -> None:
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "autoscaling:DetachInstances" in statement["Action"]
    ]
    (statement,) = statements
    # A cluster's group, and not one kOps tagged as the control plane (under either role tag)
    assert statement["Condition"] == {
        "Null": {
            "aws:ResourceTag/KubernetesCluster": "false",
            "aws:ResourceTag/k8s.io/role/master": "true",
            "aws:ResourceTag/k8s.io/role/control-plane": "true",
        }
    }
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
    # The onboarding steps with the baseline and the plan, the cleanup functions, the Spot handler, its canary and
    # the drift check
    assert len(functions) == len(ONBOARDING) + 2 + len(CLEANUP_GROUPS) + 3
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
    # Then it holds our code and its dependencies, with bytecode, and neither the official Kubernetes client
    # (the functions use our own transport) nor the AWS SDK the runtime provides
    assert (bundle / "kops_lambda" / "handlers" / "validate_cluster.py").is_file()
    assert (bundle / "urllib3").is_dir()
    assert (bundle / "aws_lambda_powertools").is_dir()
    assert (bundle / "pydantic_core").is_dir()
    assert not (bundle / "kubernetes").exists()
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
    # And, standing in for the Lambda runtime, only the AWS SDK it provides (pure Python, with its dependencies)
    runtime_sdk = tmp_path / "runtime"
    runtime_sdk.mkdir()
    for module in ("boto3", "botocore", "s3transfer", "dateutil"):
        (runtime_sdk / module).symlink_to(Path(importlib.import_module(module).__file__ or "").parent)
    six = Path(importlib.import_module("six").__file__ or "")
    (runtime_sdk / six.name).symlink_to(six)
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


def _statements_of(template: Template, handler_module: str) -> list[dict[str, Any]]:
    """The IAM statements of the role of the function whose handler is `handler_module`."""
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": f"kops_lambda.handlers.{handler_module}.handler"}}
    ).values()
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_deletes_are_scoped_to_our_names(template: Template) -> None:
    scopes = {
        "iam:DeletePolicy": "policy/CASTKopsPolicyV2",
        "iam:DeletePolicyVersion": "policy/CASTKopsPolicyV2",
        "iam:DeleteRole": "role/CastLambdaRoleForSpot",
        "iam:DetachRolePolicy": "role/CastLambdaRoleForSpot",
        "iam:DeleteUser": "user/cast-kops-*",
        "iam:DeleteAccessKey": "user/cast-kops-*",
        "ec2:DeleteKeyPair": "key-pair/cast-kops-*",
    }
    seen = set()
    deleted_secrets = {}
    for module in ("cleanup_iam", "cleanup_key_pair", "cleanup_access_key", "cleanup_identity_mapping"):
        for statement in _statements_of(template, module):
            resources = json.dumps(statement["Resource"])
            for action in _actions(statement):
                if action in scopes:
                    assert scopes[action] in resources and '"*"' not in resources, (module, action)
                    seen.add(action)
                if action == "secretsmanager:DeleteSecret":
                    # Never the customer's kubeconfig secrets (`kops-onboard/clusters/<cluster>/kubeconfig`)
                    assert "kops-onboard/clusters/*/" in resources and "/kubeconfig" not in resources
                    deleted_secrets[module] = resources
                    seen.add(action)
    assert seen == {*scopes, "secretsmanager:DeleteSecret"}
    # Each cleanup deletes the secrets of its own step only
    assert {
        module: resources.split("clusters/*/")[1].split("-*")[0] for module, resources in deleted_secrets.items()
    } == {
        "cleanup_key_pair": "ssh-private-key",
        "cleanup_access_key": "access-key",
        "cleanup_identity_mapping": "vendor-kubeconfig",
    }


def test_only_the_cleanup_functions_may_delete(template: Template) -> None:
    for module in ("record_baseline", "cleanup_registry", "cleanup_identity_mapping", "cleanup_agent"):
        actions = [a for s in _statements_of(template, module) for a in _actions(s)]
        deletes = [a for a in actions if ":Delete" in a or ":Detach" in a]
        # RemoveIdentityMapping also deletes the vendor kubeconfig MapIdentity stored (scoped above)
        allowed = {"secretsmanager:DeleteSecret"} if module == "cleanup_identity_mapping" else set()
        assert all(a.startswith("dynamodb:") or a in allowed for a in deletes), (module, deletes)


def test_map_identity_writes_the_vendor_kubeconfig_and_no_other_secret(template: Template) -> None:
    # identity_mode service-account: MapIdentity stores the vendor's kubeconfig, readable by named principals only
    statements = _statements_of(template, "map_identity")
    writes = [
        s
        for s in statements
        if any(
            a in _actions(s)
            for a in (
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:PutResourcePolicy",
            )
        )
    ]
    assert writes
    for statement in writes:
        assert json.dumps(statement["Resource"]).count("kops-onboard/clusters/*/vendor-kubeconfig-*") == 1, statement
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    read_names = sorted(json.dumps(s["Resource"]).split(":secret:")[1].split('"')[0] for s in reads)
    assert read_names == ["kops-onboard/clusters/*/kubeconfig-*", "kops-onboard/clusters/*/vendor-kubeconfig-*"]
    assert "SECRET_READER_ARNS" in _map_identity_environment(template)


def test_alarms_cover_workflows_handlers_and_the_dead_letter_queue(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    metrics = {(a["Properties"].get("Namespace"), a["Properties"].get("MetricName")) for a in alarms.values()}
    assert ("AWS/States", "ExecutionsFailed") in metrics
    assert ("AWS/States", "ExecutionsTimedOut") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    functions = template.find_resources("AWS::Lambda::Function")
    lambda_alarms = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"]
    assert len(lambda_alarms) == len(functions), "every function has an error alarm"
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values()), "every alarm notifies the topic"
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def _map_identity_environment(template: Template) -> dict[str, str]:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "kops_lambda.handlers.map_identity.handler"}}
    ).values()
    variables: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_the_drainer_may_delete_pods_only_when_force_delete_is_opted_in(template: Template, tmp_path: Path) -> None:
    from stacks.app_builder import STACK_NAME, _cdk_json_context, build_app

    # By default MapIdentity installs the drainer ClusterRole without pods: delete
    assert _map_identity_environment(template)["SPOT_FORCE_DELETE"] == "false"
    # With the opt-in, the same setting reaches both the Spot handler and MapIdentity
    app = build_app(tmp_path, context=_cdk_json_context() | {"spotForceDelete": "true"})
    opted_in = Template.from_stack(app.node.find_child(STACK_NAME))  # type: ignore[arg-type]
    assert _map_identity_environment(opted_in)["SPOT_FORCE_DELETE"] == "true"
    assert _spot_function(opted_in)["Properties"]["Environment"]["Variables"]["SPOT_FORCE_DELETE"] == "true"


def _create_iam_entities_environment(template: Template) -> dict[str, str]:
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "kops_lambda.handlers.create_iam_entities.handler"}}
    ).values()
    variables: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_the_seeds_spot_role_policies_only_on_opt_in(template: Template, tmp_path: Path) -> None:
    from stacks.app_builder import STACK_NAME, _cdk_json_context, build_app

    # By default CastLambdaRoleForSpot gets the scoped policy; the opt-in reaches CreateIamEntities
    assert _create_iam_entities_environment(template)["SEED_SPOT_ROLE_POLICIES"] == "false"
    app = build_app(tmp_path, context=_cdk_json_context() | {"seedSpotRolePolicies": "true"})
    opted_in = Template.from_stack(app.node.find_child(STACK_NAME))  # type: ignore[arg-type]
    assert _create_iam_entities_environment(opted_in)["SEED_SPOT_ROLE_POLICIES"] == "true"


def test_state_store_reads_are_limited_to_this_account(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    reads = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "s3:GetObject"
    ]
    assert reads
    for statement in reads:
        assert statement["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}


def test_stopped_and_timed_out_onboardings_start_their_compensation(template_json: dict[str, Any]) -> None:
    # Given the rule on Step Functions' status changes
    resources = template_json["Resources"]
    (rule,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    onboarding = next(
        key
        for key in resources
        if key.startswith("OnboardingStateMachine") and resources[key]["Type"] == "AWS::StepFunctions::StateMachine"
    )
    compensation = next(
        key
        for key in resources
        if key.startswith("CompensationStateMachine") and resources[key]["Type"] == "AWS::StepFunctions::StateMachine"
    )
    # Then it matches only executions of the onboarding state machine that ended without their own rollback
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"] == {"status": ["ABORTED", "TIMED_OUT"], "stateMachineArn": [{"Ref": onboarding}]}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": compensation}
    # And the compensation runs the whole rollback chain for the stopped execution (not for itself)
    definition = _definition(template_json, "Compensation")
    states = definition["States"]
    # (after it has waited for the stopped step's function: see the test below)
    order, end = _walk(states, states["WaitForStepInFlight"]["Next"])
    assert order == [rollback.state for rollback in ROLLBACK] and end == "Compensated"
    for state in order:
        assert states[state]["Parameters"]["execution_id.$"] == "$.stopped_execution"
        assert states[state]["Parameters"]["action"] == "rollback"


def test_the_first_state_of_each_workflow_may_read_the_status_of_a_lease_holder(template_json: dict[str, Any]) -> None:
    # Only those two functions, and only DescribeExecution (a lease of an ended execution is taken over)
    holders = set()
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("states:Describe") for action in actions):
                assert actions == ["states:DescribeExecution"], statement
                holders.add(logical_id)
    assert {holder.split("RoleDefaultPolicy")[0] for holder in holders} == {
        "OnboardingRecordBaselineFunction",
        "CleanupRegistryFunction",
    }


def _task_functions(template_json: dict[str, Any], workflow: str) -> dict[str, str]:
    """Task state -> logical id of the function its Resource names."""
    (machine,) = [
        r
        for logical_id, r in template_json["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and logical_id.startswith(f"{workflow}StateMachine")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else f"GetAtt:{part['Fn::GetAtt'][0]}" for part in parts)
    states = json.loads(text)["States"]
    return {name: s["Resource"] for name, s in states.items() if s["Type"] == "Task"}


def test_the_compensation_waits_for_the_stopped_step_before_it_undoes_anything(template_json: dict[str, Any]) -> None:
    # Given the compensation's definition
    definition = _definition(template_json, "Compensation")
    states = definition["States"]
    # Then right after reading the event, it finds the step in flight in the stopped execution's history
    find = states[states[definition["StartAt"]]["Next"]]
    assert states[definition["StartAt"]]["Next"] == "FindStepInFlight"
    assert find["Type"] == "Task" and find["Parameters"]["execution_id.$"] == "$.stopped_execution"
    assert find["Parameters"]["action"] == "in-flight" and find["ResultPath"] == "$.in_flight"
    assert find["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.rollback_error", "Next": "CompensationFailed"}
    ]
    assert any("AwsThrottled" in retry["ErrorEquals"] for retry in find["Retry"])
    # And waits the seconds it computed, then starts the rollback chain
    wait = states[find["Next"]]
    assert wait == {
        "Type": "Wait",
        "Comment": wait["Comment"],
        "SecondsPath": "$.in_flight.wait_seconds",
        "Next": ROLLBACK[0].state,
    }


def test_the_onboarding_tasks_record_lambda_function_events(template_json: dict[str, Any]) -> None:
    # FindStepInFlight reads LambdaFunctionScheduled/Started/...: every onboarding task names its function
    # as Resource (not arn:aws:states:::lambda:invoke, whose events are TaskScheduled/...)
    resources = _task_functions(template_json, "Onboarding")
    assert resources and all(resource.startswith("GetAtt:") for resource in resources.values()), resources


def test_only_the_in_flight_function_may_read_execution_histories_and_function_timeouts(
    template: Template, template_json: dict[str, Any]
) -> None:
    # Given the functions an onboarding execution invokes (its steps and its rollback's)
    invoked = sorted(
        {resource.removeprefix("GetAtt:") for resource in _task_functions(template_json, "Onboarding").values()}
    )
    onboarding = next(
        key
        for key, r in template_json["Resources"].items()
        if key.startswith("OnboardingStateMachine") and r["Type"] == "AWS::StepFunctions::StateMachine"
    )
    # Then the InFlight function reads the history of the onboarding's executions and those functions'
    # configuration, nothing else of either service
    statements = {s.get("Sid"): s for s in _statements_of(template, "cleanup_in_flight")}
    history = statements["ReadStoppedExecutionHistory"]
    assert history["Action"] == "states:GetExecutionHistory"
    assert {"Fn::GetAtt": [onboarding, "Name"]} in history["Resource"]["Fn::Join"][1]
    assert history["Resource"]["Fn::Join"][1][-1] == ":*"
    timeouts = statements["ReadStepFunctionTimeouts"]
    assert timeouts["Action"] == "lambda:GetFunctionConfiguration"
    assert sorted(r["Fn::GetAtt"][0] for r in timeouts["Resource"]) == invoked
    assert {sid for sid in statements if sid} == {"ReadStoppedExecutionHistory", "ReadStepFunctionTimeouts"}
    # And no other function may
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy" or logical_id.startswith("CleanupInFlightFunction"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            for action in _actions(statement):
                assert action not in {"states:GetExecutionHistory", "lambda:GetFunctionConfiguration"}, logical_id
