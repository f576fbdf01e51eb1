"""The plan's pure parts: which statements of a policy change, and the plan's text for people."""

from kops_lambda.logic.plan import statement_changes
from kops_lambda.models.plan import OnboardingPlan, PlannedResource
from kops_onboard.commands.plan import plan_text

ALLOW_READ = {"Sid": "Read", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
DENY_IAM = {"Sid": "DenyIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}


def _policy(*statements: dict[str, str]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_statement_changes_name_added_removed_and_changed_statements_by_sid() -> None:
    current = _policy(ALLOW_READ, {"Sid": "Old", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    desired = _policy({**ALLOW_READ, "Action": "ec2:DescribeInstances"}, DENY_IAM)
    assert statement_changes(current, desired) == [
        "statement DenyIam added",
        "statement Old removed",
        "statement Read changed",
    ]
    assert statement_changes(desired, desired) == []


def test_statement_changes_see_a_document_rewritten_outside_its_statements() -> None:
    assert statement_changes({"Version": "2008-10-17", "Statement": [ALLOW_READ]}, _policy(ALLOW_READ)) == [
        "document rewritten (same statements, other top-level fields)"
    ]


def test_plan_text_counts_actions_and_gives_each_resource_its_symbol_and_reasons() -> None:
    plan = OnboardingPlan(
        cluster_name="a.k8s.local",
        region="us-east-1",
        kops_version="1.21.4",
        identity_mode="authenticator",
        identity_backend="CRD",
        resources=[
            PlannedResource(kind="iam-user", name="cast-kops-a.k8s.local", action="create"),
            PlannedResource(
                kind="iam-policy",
                name="CASTKopsPolicyV2",
                action="update",
                changes=["statement X added"],
                document=_policy(DENY_IAM),
            ),
            PlannedResource(kind="ec2-key-pair", name="cast-kops-a.k8s.local", action="refuse", reason="not ours"),
        ],
        not_covered=["the registry record"],
    )
    text = plan_text(plan)
    assert text.splitlines()[0] == (
        "plan for a.k8s.local (us-east-1, kOps 1.21.4, identity authenticator via CRD): "
        "1 to create, 1 to update, 0 unchanged, 1 refused"
    )
    assert "  + iam-user           cast-kops-a.k8s.local" in text
    assert "  ~ iam-policy         CASTKopsPolicyV2\n      statement X added\n      document: --show-documents" in text
    assert "  ! ec2-key-pair       cast-kops-a.k8s.local\n      refused: not ours" in text
    assert '"Sid": "DenyIam"' in plan_text(plan, show_documents=True)
    assert text.endswith("not covered by this plan: the registry record")
