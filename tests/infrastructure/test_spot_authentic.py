"""Authentic Spot events only, as the template says it: the rules match this account's events in the covered
regions, and the queue takes messages from those rules alone."""

from typing import Any

from aws_cdk import cx_api

from kops_lambda.constants import spot_forwarder_stack_name
from stacks.app_builder import STACK_NAME
from tests.infrastructure.conftest import FORWARDED_REGIONS, HOME_REGION

ACCOUNT = {"Ref": "AWS::AccountId"}


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def _spot_rules(template: dict[str, Any]) -> dict[str, Any]:
    return {
        lid: r
        for lid, r in _resources(template, "AWS::Events::Rule").items()
        if r["Properties"].get("EventPattern", {}).get("source") in (["aws.ec2"], ["aws.autoscaling"], ["aws.health"])
    }


def _event_queue(template: dict[str, Any]) -> str:
    (queue_id,) = [
        lid for lid, r in _resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in r["Properties"]
    ]
    return queue_id


def test_the_spot_rules_match_only_this_accounts_events_in_the_stacks_region(template_json: dict[str, Any]) -> None:
    rules = _spot_rules(template_json)
    assert len(rules) == 4
    for rule in rules.values():
        pattern = rule["Properties"]["EventPattern"]
        assert pattern["account"] == [ACCOUNT]
        assert pattern["region"] == [{"Ref": "AWS::Region"}]


def test_home_and_forwarder_rules_filter_on_this_account_and_the_covered_regions(
    spot_regions_assembly: cx_api.CloudAssembly,
) -> None:
    home = spot_regions_assembly.get_stack_by_name(STACK_NAME).template
    for rule in _spot_rules(home).values():
        pattern = rule["Properties"]["EventPattern"]
        assert (pattern["account"], pattern["region"]) == ([ACCOUNT], [HOME_REGION, *FORWARDED_REGIONS])
    for region in FORWARDED_REGIONS:
        forwarder = spot_regions_assembly.get_stack_by_name(spot_forwarder_stack_name(region)).template
        rules = _spot_rules(forwarder)
        assert len(rules) == 4
        for rule in rules.values():
            pattern = rule["Properties"]["EventPattern"]
            assert (pattern["account"], pattern["region"]) == ([ACCOUNT], [region])


def test_the_queue_refuses_send_message_to_everyone_but_the_spot_rules(template_json: dict[str, Any]) -> None:
    queue_id = _event_queue(template_json)
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    rule_arns = [{"Fn::GetAtt": [lid, "Arn"]} for lid in sorted(_spot_rules(template_json))]
    (policy,) = [
        p
        for p in _resources(template_json, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # Every principal is refused SendMessage unless the request comes from one of the two rules (a request
    # of an IAM principal carries no aws:SourceArn, which ArnNotEquals matches too)
    (deny,) = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == "sqs:SendMessage"]
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Resource"] == queue_arn
    assert sorted(deny["Condition"]["ArnNotEquals"]["aws:SourceArn"], key=str) == sorted(rule_arns, key=str)
    assert set(deny["Condition"]) == {"ArnNotEquals"}
    # The rules themselves are allowed, each by its own ARN, as EventBridge's service principal
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert sorted((s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in allows), key=str) == sorted(rule_arns, key=str)
    for allow in allows:
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Action"] == ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
    # And the TLS-only statement stays
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    assert len(statements) == 1 + len(allows) + 1


def test_the_lifecycle_rule_matches_only_our_hooks_termination_actions(template_json: dict[str, Any]) -> None:
    (rule,) = [
        r
        for r in _spot_rules(template_json).values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.autoscaling"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    assert pattern["detail"] == {
        "LifecycleHookName": ["kops-onboard-drain"],
        "LifecycleTransition": ["autoscaling:EC2_INSTANCE_TERMINATING"],
    }
    assert (pattern["account"], pattern["region"]) == ([ACCOUNT], [{"Ref": "AWS::Region"}])


def test_the_health_rule_matches_only_scheduled_changes_of_ec2(template_json: dict[str, Any]) -> None:
    (rule,) = [
        r for r in _spot_rules(template_json).values() if r["Properties"]["EventPattern"]["source"] == ["aws.health"]
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["AWS Health Event"]
    assert pattern["detail"] == {"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]}
    assert (pattern["account"], pattern["region"]) == ([ACCOUNT], [{"Ref": "AWS::Region"}])
