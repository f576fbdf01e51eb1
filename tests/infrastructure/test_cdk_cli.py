"""The real CDK CLI (pinned in package.json) runs the app as cdk.json says: `.venv/bin/python app.py`.

Three synths, each running the Python app: `cdk synth` with cdk.json's context alone; `make diff` with every
documented single-stack `-c` setting at once against a moto server, where the stack is not deployed yet
(`make deploy` then deploys that diff's assembly there, bootstrapped first); and `cdk synth -c` with the
settings that add stacks or place functions (spotRegions, the cluster network). Every run is hermetic: none of
the machine's AWS or CDK settings, no instance metadata, no version check, notices or telemetry; the region is
fixed and only the runs against moto have (moto's) credentials.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID as MOTO_ACCOUNT

from kops_lambda.constants import spot_forwarder_stack_name
from stacks.app_builder import STACK_NAME

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
REGION = "eu-west-1"
# Hang guards (a synth runs the app, 15-70 s here): a hung CLI or server fails the test, not the whole run.
CLI_TIMEOUT_SECONDS = 600
SERVER_START_TIMEOUT_SECONDS = 120

Template = dict[str, Any]

# cdk.json's Spot keys and the Spot handler's environment variable each one sets.
SPOT_ENVIRONMENT = {
    "spotDryRun": "SPOT_DRY_RUN",
    "spotWarningAction": "SPOT_WARNING_ACTION",
    "spotRebalanceAction": "SPOT_REBALANCE_ACTION",
    "spotStateChangeAction": "SPOT_STATE_CHANGE_ACTION",
    "spotCapacityReservationAction": "SPOT_CAPACITY_RESERVATION_ACTION",
    "spotLifecycleAction": "SPOT_LIFECYCLE_ACTION",
    "spotLifecycleHookName": "SPOT_LIFECYCLE_HOOK_NAME",
    "spotScheduledChangeAction": "SPOT_SCHEDULED_CHANGE_ACTION",
    "spotDeadlineMarginSeconds": "SPOT_DEADLINE_MARGIN_SECONDS",
    "spotEvictionConcurrency": "SPOT_EVICTION_CONCURRENCY",
    "spotEarlyReplacement": "SPOT_EARLY_REPLACEMENT",
    "spotForceDelete": "SPOT_FORCE_DELETE",
    "spotDrainControlPlane": "SPOT_DRAIN_CONTROL_PLANE",
    "spotOutOfServiceTaint": "SPOT_OUT_OF_SERVICE_TAINT",
}


def cli_environment(home: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: this process's, less every AWS, CDK and make setting, plus the offline switches."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_", "MAKE")) and key != "MFLAGS"
    }
    return inherited | {
        "CDK_HOME": str(home / "cdk-home"),  # the CLI's caches and settings: none of the machine's
        "AWS_CONFIG_FILE": str(home / "aws-config"),  # absent: no profile, no SSO
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        **extra,
    }


def run(argv: list[str], env: dict[str, str]) -> str:
    """Runs a command in the project root; returns its output (the CLI logs to stdout when CI is set)."""
    result = subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{shlex.join(argv)} exited {result.returncode}:\n{result.stdout[-6000:]}"
    return result.stdout


def stack_template(outdir: Path) -> Template:
    template: Template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    return template


# -- reading settings back from a template ----------------------------------------------------------------------


def _function(template: Template, handler_module: str) -> dict[str, Any]:
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == f"kops_lambda.handlers.{handler_module}.handler"
    ]
    return function


def function_environment(handler_module: str, variable: str) -> Callable[[Template], object]:
    def read(template: Template) -> object:
        return _function(template, handler_module)["Properties"]["Environment"]["Variables"].get(variable)

    read.__name__ = f"{handler_module}.{variable}"
    return read


def canary_schedule(template: Template) -> object:
    (rule,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and "ScheduleExpression" in r["Properties"]
        and "Spot canary" in r["Properties"]["Description"]
    ]
    return rule["Properties"]["ScheduleExpression"]


def rotation_environment(variable: str) -> Callable[[Template], object]:
    """A variable of the access-key rotation's function; None without the function (the default)."""

    def read(template: Template) -> object:
        handler = "kops_lambda.handlers.access_key_rotation.handler"
        functions = [
            r
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == handler
        ]
        return functions[0]["Properties"]["Environment"]["Variables"].get(variable) if functions else None

    read.__name__ = f"access_key_rotation.{variable}"
    return read


def email_subscriptions(template: Template) -> object:
    return sorted(
        r["Properties"]["Endpoint"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "email"
    )


def state_store_objects(template: Template) -> object:
    """The S3 objects any policy lets a step read (ARNs after `s3:::`)."""
    return sorted(set(re.findall(r":s3:::([^\"]+)", json.dumps(template))))


def secret_readers(template: Template) -> object:
    """The principals besides our own functions that MapIdentity lets read the secrets it writes."""
    value = function_environment("map_identity", "SECRET_READER_ARNS")(template)
    # A string, the function's own role ARN alone ({"Fn::GetAtt": ...}) or both joined ({"Fn::Join": ...}).
    parts = value.get("Fn::Join", ["", []])[1] if isinstance(value, dict) else [value]
    literal = "".join(part for part in parts if isinstance(part, str))
    return [arn for arn in literal.split(",") if arn]


def notification_key_grant(template: Template) -> object:
    """The KMS key the Spot role may use through SNS (spotNotificationTopicKeyArn)."""
    return [
        statement["Resource"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "EncryptNotifications"
    ]


def rotation_topic_key_grant(template: Template) -> object:
    """The KMS key the rotation's role may use through SNS (accessKeyRotationTopicKeyArn)."""
    return [
        statement["Resource"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "EncryptRotationNotifications"
    ]


def policy_action_lists(template: Template) -> list[list[str]]:
    return [
        statement["Action"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if isinstance(statement["Action"], list)
    ]


# -- the documented `-c` settings: one line each -----------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A `-c key=value` setting as the README documents it, and how to read it back from the template."""

    key: str
    value: str
    read: Callable[[Template], object]
    expected: object


NOTIFICATION_TOPIC = "arn:aws:sns:eu-west-1:123456789012:spot-notifications"
NOTIFICATION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f0f0f0f-0000-4000-8000-000000000000"
WEBHOOK_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/spot-webhook-AbCdEf"
ROTATION_TOPIC = "arn:aws:sns:eu-west-1:123456789012:key-rotations"
ROTATION_TOPIC_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1f1f1f1f-0000-4000-8000-000000000000"
SPOT_OVERRIDES = {
    "spotDryRun": "true",
    "spotWarningAction": "cordon",
    "spotRebalanceAction": "none",
    "spotStateChangeAction": "taint",
    "spotCapacityReservationAction": "cordon",
    "spotLifecycleAction": "taint",
    "spotLifecycleHookName": "Team-Drain",
    "spotScheduledChangeAction": "cordon",
    "spotDeadlineMarginSeconds": "30",
    "spotEvictionConcurrency": "8",
    "spotEarlyReplacement": "false",
    "spotForceDelete": "true",
    "spotDrainControlPlane": "true",
    "spotOutOfServiceTaint": "true",
}
OVERRIDES = [
    *(
        Override(key, value, function_environment("spot_interruption", SPOT_ENVIRONMENT[key]), value)
        for key, value in SPOT_OVERRIDES.items()
    ),
    Override("spotForceDelete", "true", function_environment("map_identity", "SPOT_FORCE_DELETE"), "true"),
    Override("spotCanaryMinutes", "5", canary_schedule, "rate(5 minutes)"),
    Override("alarmEmail", "ops@example.com", email_subscriptions, ["ops@example.com"]),
    Override(
        "agentApiUrl",
        "https://agent.example.com",
        function_environment("install_agent", "AGENT_API_URL"),
        "https://agent.example.com",
    ),
    Override(
        "stateStoreBuckets",
        '["team-a-kops-state","team-b-kops-*"]',
        state_store_objects,
        [
            "team-a-kops-state/*/config",
            "team-a-kops-state/*/kops-version.txt",
            "team-b-kops-*/*/config",
            "team-b-kops-*/*/kops-version.txt",
        ],
    ),
    Override(
        "secretReaderArns",
        '["arn:aws:iam::123456789012:role/ops-reader"]',
        secret_readers,
        ["arn:aws:iam::123456789012:role/ops-reader"],
    ),
    Override(
        "seedSpotRolePolicies",
        "true",
        function_environment("create_iam_entities", "SEED_SPOT_ROLE_POLICIES"),
        "true",
    ),
    Override(
        "spotNotificationTopicArn",
        NOTIFICATION_TOPIC,
        function_environment("spot_interruption", "SPOT_NOTIFICATION_TOPIC_ARN"),
        NOTIFICATION_TOPIC,
    ),
    Override("spotNotificationTopicKeyArn", NOTIFICATION_KEY, notification_key_grant, [NOTIFICATION_KEY]),
    Override(
        "spotWebhookUrlSecretArn",
        WEBHOOK_SECRET,
        function_environment("spot_interruption", "SPOT_WEBHOOK_URL_SECRET_ARN"),
        WEBHOOK_SECRET,
    ),
    Override("accessKeyRotationDays", "45", rotation_environment("ACCESS_KEY_ROTATION_DAYS"), "45"),
    Override(
        "accessKeyRotationTopicArn",
        ROTATION_TOPIC,
        rotation_environment("ACCESS_KEY_ROTATION_TOPIC_ARN"),
        ROTATION_TOPIC,
    ),
    Override("accessKeyRotationTopicKeyArn", ROTATION_TOPIC_KEY, rotation_topic_key_grant, [ROTATION_TOPIC_KEY]),
    # Without placeholders: make expands `$` in CONTEXT (a template with them goes in cdk.json, or `$$`).
    Override(
        "spotWebhookTemplate",
        '{"text":"interrupted"}',
        function_environment("spot_interruption", "SPOT_WEBHOOK_TEMPLATE"),
        '{"text":"interrupted"}',
    ),
]


# Settings that add a stack in another region or put functions in a VPC: synthesized, not deployed to moto.
SECOND_REGION = "us-west-2"
NETWORK_OVERRIDES = {
    "clusterVpcId": "vpc-0123456789abcdef0",
    "clusterSubnetIds": "subnet-0123456789abcdef1,subnet-0123456789abcdef2",
    "clusterSecurityGroupIds": "sg-0123456789abcdef3",
}


# -- the three CLI runs ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk-cli-home")


@pytest.fixture(scope="module")
def default_synth(cli_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth` with no `-c`: cdk.json's context alone; returns the cloud assembly's directory."""
    outdir = tmp_path_factory.mktemp("cdk-synth") / "cdk.out"
    run([str(CDK), "synth", "--quiet", "--no-notices", "--no-color", "-o", str(outdir)], cli_environment(cli_home))
    return outdir


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server in a process of its own: the deploy below writes a CloudFormation stack and S3 objects, and
    moto's state is per process, so no other test's local AWS (and `kops-onboard`, which reads the stack's
    outputs when there is one) sees them."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", "0"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # moto's CloudFormation reads a TemplateURL's bucket from the path only when the host is localhost.
        yield f"http://localhost:{_listening_port(server, log)}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _listening_port(server: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if match := re.search(r"Running on http://127\.0\.0\.1:(\d+)", log.read_text()):
            return int(match.group(1))
        assert server.poll() is None, f"moto_server exited {server.returncode}:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"moto_server did not listen within {SERVER_START_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def moto_environment(home: Path, endpoint: str) -> dict[str, str]:
    return cli_environment(
        home, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )


@dataclass(frozen=True)
class DiffRun:
    output: str
    outdir: Path
    template: Template


@pytest.fixture(scope="module")
def diff_with_overrides(cli_home: Path, tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> DiffRun:
    """`make diff CONTEXT="-c ..."` with every override at once, against moto."""
    outdir = tmp_path_factory.mktemp("cdk-diff") / "cdk.out"
    settings = {o.key: o.value for o in OVERRIDES}  # a key read back in two places is given once
    context = " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in settings.items())
    options = f"--no-notices --no-color -o {shlex.quote(str(outdir))}"
    output = run(
        ["make", "--no-print-directory", "diff", f"CONTEXT={context}", f"CDK_OPTIONS={options}"],
        moto_environment(cli_home, moto_endpoint),
    )
    return DiffRun(output=output, outdir=outdir, template=stack_template(outdir))


@pytest.fixture(scope="module")
def deployed(cli_home: Path, moto_endpoint: str, diff_with_overrides: DiffRun) -> DiffRun:
    """`cdk bootstrap`, then `make deploy` of the diff's assembly (no third synth), into moto."""
    environment = moto_environment(cli_home, moto_endpoint)
    assembly = str(diff_with_overrides.outdir)
    run(
        [str(CDK), "bootstrap", "--no-notices", "--no-color", "--app", assembly, f"aws://{MOTO_ACCOUNT}/{REGION}"],
        environment,
    )
    options = f"--no-notices --no-color --app {shlex.quote(assembly)}"
    run(["make", "--no-print-directory", "deploy", "REQUIRE_APPROVAL=never", f"CDK_OPTIONS={options}"], environment)
    return diff_with_overrides


@pytest.fixture(scope="module")
def regions_and_network_synth(cli_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth -c spotRegions=... -c cluster...=...`; returns the cloud assembly's directory."""
    outdir = tmp_path_factory.mktemp("cdk-synth-regions") / "cdk.out"
    settings = {"spotRegions": f"{REGION},{SECOND_REGION}", **NETWORK_OVERRIDES}
    context = [argument for key, value in settings.items() for argument in ("-c", f"{key}={value}")]
    run(
        [str(CDK), "synth", "--quiet", "--no-notices", "--no-color", "-o", str(outdir), *context],
        cli_environment(cli_home),
    )
    return outdir


# -- cdk synth: cdk.json as the CLI reads it ----------------------------------------------------------------------


def test_cdk_synth_writes_the_stack_for_the_clis_region(default_synth: Path) -> None:
    manifest = json.loads((default_synth / "manifest.json").read_text())
    stack = manifest["artifacts"][STACK_NAME]
    assert stack["type"] == "aws:cloudformation:stack"
    # No credentials: the account stays unknown, the region is the CLI's, and ARNs name it.
    assert stack["environment"] == f"aws://unknown-account/{REGION}"
    template = stack_template(default_synth)
    assert f":{REGION}:" in json.dumps(template)
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {"AWS::StepFunctions::StateMachine", "AWS::Lambda::Function", "AWS::SQS::Queue"} <= types


def test_cdk_synth_applies_cdk_json_spot_settings(default_synth: Path) -> None:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    variables = _function(stack_template(default_synth), "spot_interruption")["Properties"]["Environment"]["Variables"]
    assert {variable: variables[variable] for variable in SPOT_ENVIRONMENT.values()} == {
        variable: context[key] for key, variable in SPOT_ENVIRONMENT.items()
    }


def test_cdk_synth_applies_cdk_json_feature_flags(default_synth: Path) -> None:
    # Unlike the Spot settings (whose code defaults cdk.json repeats), @aws-cdk/aws-iam:minimizePolicies is
    # off without cdk.json; minimized statements have their actions sorted, unminimized ones keep grant order.
    action_lists = policy_action_lists(stack_template(default_synth))
    assert action_lists
    assert all(actions == sorted(actions) for actions in action_lists)


# -- make diff with the documented -c settings, against moto -----------------------------------------------------


def test_make_diff_against_moto_lists_every_resource_as_added(diff_with_overrides: DiffRun) -> None:
    # The account is moto's (from STS through AWS_ENDPOINT_URL): the diff asked the local AWS, not a real one.
    assert f"Stack {STACK_NAME} (aws://{MOTO_ACCOUNT}/{REGION})" in diff_with_overrides.output
    added = set(re.findall(r"^\[\+\] AWS::\S+ \S+ (\S+)$", diff_with_overrides.output, flags=re.MULTILINE))
    resources = {
        logical_id
        for logical_id, resource in diff_with_overrides.template["Resources"].items()
        if resource["Type"] != "AWS::CDK::Metadata"
    }
    assert added == resources
    assert "Number of stacks with differences: 1" in diff_with_overrides.output


@pytest.mark.parametrize("override", OVERRIDES, ids=lambda o: f"{o.key}-{o.read.__name__}")
def test_a_documented_override_reaches_the_template(override: Override, diff_with_overrides: DiffRun) -> None:
    assert override.read(diff_with_overrides.template) == override.expected


@pytest.mark.parametrize("override", OVERRIDES, ids=lambda o: f"{o.key}-{o.read.__name__}")
def test_each_override_differs_from_the_default_synth(override: Override, default_synth: Path) -> None:
    # Otherwise the check above would pass with the setting ignored.
    assert override.read(stack_template(default_synth)) != override.expected


def test_make_deploy_deploys_every_stack_with_the_given_context_and_approval(cli_home: Path) -> None:
    # A deploy needs a bootstrapped account; the command line is what can be checked here (diff runs for real).
    context = "-c alarmEmail=ops@example.com -c stateStoreBuckets='[\"my-kops-state\"]'"
    output = run(
        ["make", "--no-print-directory", "--dry-run", "deploy", f"CONTEXT={context}", "REQUIRE_APPROVAL=never"],
        cli_environment(cli_home),
    )
    command = shlex.split(output.strip().splitlines()[-1])
    assert command == [
        "node_modules/.bin/cdk",
        "deploy",
        "--all",
        "--require-approval",
        "never",
        "-c",
        "alarmEmail=ops@example.com",
        "-c",
        'stateStoreBuckets=["my-kops-state"]',
    ]


def test_make_deploy_publishes_the_assets_and_creates_the_stack_in_moto(deployed: DiffRun, moto_endpoint: str) -> None:
    # moto accepts the change set without creating the resources themselves: what is checked is the CLI's part.
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION, **credentials)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, **credentials)
    (stack,) = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    body = cloudformation.get_template(StackName=STACK_NAME)["TemplateBody"]
    assert (json.loads(body) if isinstance(body, str) else body) == deployed.template
    assets = json.loads((deployed.outdir / f"{STACK_NAME}.assets.json").read_text())["files"]
    destinations = [d for asset in assets.values() for d in asset["destinations"].values()]
    assert any(d["objectKey"].endswith(".zip") for d in destinations), "the Lambda bundle is a file asset"
    for destination in destinations:
        bucket = destination["bucketName"].replace("${AWS::AccountId}", MOTO_ACCOUNT)
        assert s3.head_object(Bucket=bucket, Key=destination["objectKey"])["ContentLength"] > 0


# -- cdk synth -c: the settings that add a stack or place functions ----------------------------------------------


def test_cdk_synth_with_spot_regions_adds_one_forwarder_stack_in_the_other_region(
    regions_and_network_synth: Path,
) -> None:
    manifest = json.loads((regions_and_network_synth / "manifest.json").read_text())
    stacks = {
        name: artifact["environment"]
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    forwarder = spot_forwarder_stack_name(SECOND_REGION)
    assert stacks == {
        STACK_NAME: f"aws://unknown-account/{REGION}",
        forwarder: f"aws://unknown-account/{SECOND_REGION}",
    }
    template = json.loads((regions_and_network_synth / f"{forwarder}.template.json").read_text())
    targets = [
        target["Arn"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Events::Rule"
        for target in resource["Properties"]["Targets"]
    ]
    assert targets and all(f":events:{REGION}:" in json.dumps(arn) for arn in targets)
    home = stack_template(regions_and_network_synth)
    variables = _function(home, "validate_cluster")["Properties"]["Environment"]["Variables"]
    assert variables["SPOT_REGIONS"] == f"{REGION},{SECOND_REGION}"


def test_cdk_synth_with_the_network_settings_puts_the_spot_handler_in_those_subnets(
    regions_and_network_synth: Path, default_synth: Path
) -> None:
    config = _function(stack_template(regions_and_network_synth), "spot_interruption")["Properties"]["VpcConfig"]
    assert config["SubnetIds"] == NETWORK_OVERRIDES["clusterSubnetIds"].split(",")
    assert config["SecurityGroupIds"] == [NETWORK_OVERRIDES["clusterSecurityGroupIds"]]
    assert "VpcConfig" not in _function(stack_template(default_synth), "spot_interruption")["Properties"]
