"""cdk-nag AwsSolutions runs in every synth: the stack passes, and a violation would fail the synth."""

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from stacks.nag import ACKNOWLEDGEMENTS, apply_nag


def test_the_stack_synthesizes_with_no_unacknowledged_finding(template_path: Path) -> None:
    # The session's synth ran with the plugin; it raises on any unacknowledged finding.
    report = template_path.parent / "validation-report.json"
    assert not report.exists() or "failure" not in report.read_text()


def test_every_acknowledgement_gives_a_specific_reason() -> None:
    for rule, reason in ACKNOWLEDGEMENTS.items():
        assert rule.startswith("AwsSolutions::AwsSolutions-")
        assert len(reason) > 40, rule


def test_an_unacknowledged_violation_fails_the_synth(tmp_path: Path) -> None:
    # Given an app with our checks and a queue without SSL enforcement or a DLQ
    app = cdk.App(outdir=str(tmp_path))
    apply_nag(app)
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "Plain")
    # When it is synthesized, then the validation fails and names the rule
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-SQS" in (tmp_path / "validation-report.json").read_text()


def test_acknowledgements_hold_in_a_stack_with_a_region_account_and_its_own_state_stores(tmp_path: Path) -> None:
    # Given the CLI's context (a string list) and environment: ARNs then spell out the region and account
    app = cdk.App(outdir=str(tmp_path), context={"stateStoreBuckets": '["my-kops-state"]'})
    apply_nag(app)
    stack = cdk.Stack(app, "Deployed", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    agent_key = stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name="kops-onboard/agent-api-key-*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject", "secretsmanager:GetSecretValue"],
            resources=[agent_key, f"arn:{stack.partition}:s3:::my-kops-state/*/config"],
        )
    )
    # When it is synthesized, then both wildcards are acknowledged as in an environment-agnostic stack
    app.synth()
    assert "failure" not in (tmp_path / "validation-report.json").read_text()
