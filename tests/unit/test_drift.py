"""What widens access, statement by statement and object by object (logic/drift), and the drift as
`kops-onboard status` shows it."""

from typing import Any

from kops_lambda.adapters.secrets import reader_policy
from kops_lambda.logic.drift import document_widening, object_widening
from kops_onboard.commands.status import _drift_details, drift_summary

OURS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Describe",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
        }
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**OURS, "Statement": [{**OURS["Statement"][0], **changes}]}


def test_the_same_document_or_a_narrower_one_does_not_widen() -> None:
    assert document_widening(OURS, OURS) == []
    assert document_widening({**OURS, "Statement": []}, OURS) == []  # our allow removed: narrower


def test_an_added_statement_action_resource_or_removed_condition_widens() -> None:
    added = {**OURS, "Statement": [*OURS["Statement"], {"Sid": "Hand", "Effect": "Allow", "Action": "iam:*"}]}
    assert document_widening(added, OURS) == ["statement Hand added, allowing iam:*"]
    assert document_widening(_with(Action=["ec2:DescribeInstances", "ec2:RunInstances"]), OURS) == [
        "statement Describe: Action ec2:RunInstances added"
    ]
    assert document_widening(_with(Resource=["*", "arn:aws:s3:::x"]), OURS) == [
        "statement Describe: Resource arn:aws:s3:::x added"
    ]
    unconditioned = dict(OURS["Statement"][0])
    del unconditioned["Condition"]
    assert document_widening({**OURS, "Statement": [unconditioned]}, OURS) == [
        "statement Describe: condition StringEquals aws:RequestedRegion removed or changed"
    ]


def test_a_secret_policy_whose_deny_is_gone_or_names_more_readers_widens() -> None:
    ours = reader_policy(["arn:aws:iam::1:role/a"])
    assert document_widening(ours, ours) == []
    assert document_widening({}, ours) == ["deny OnlyNamedReaders removed"]
    more = reader_policy(["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"])
    assert document_widening(more, ours) == [
        "deny OnlyNamedReaders: condition ArnNotLike aws:PrincipalArn added or changed"
    ]


def test_rbac_rules_binding_subjects_and_mapping_groups_added_widen() -> None:
    role = {"kind": "ClusterRole", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    wider = {**role, "rules": [*role["rules"], {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}
    assert object_widening(role, role) == [] and object_widening(None, role) == []
    assert object_widening(wider, role) == ["rule added: list secrets in group '' (names *)"]
    binding = {"kind": "ClusterRoleBinding", "roleRef": {"name": "r"}, "subjects": [{"kind": "Group", "name": "g"}]}
    extra = {**binding, "subjects": [*binding["subjects"], {"kind": "User", "name": "mallory"}]}
    assert object_widening(extra, binding) == ["subject User mallory added"]
    mapping = {"kind": "IAMIdentityMapping", "spec": {"username": "u", "groups": ["g"]}}
    masters = {**mapping, "spec": {"username": "u", "groups": ["g", "system:masters"]}}
    assert object_widening(masters, mapping) == ["group system:masters added"]


def test_status_shows_the_drift_and_calls_out_widening() -> None:
    assert drift_summary(None) == "not checked yet"
    assert drift_summary({"checked_at": "t", "resources": []}) == "none at t"
    assert drift_summary({"checked_at": "t", "error": "boom"}) == "CHECK FAILED at t: boom"
    drift = {
        "checked_at": "t",
        "resources": [
            {
                "kind": "ConfigMap",
                "name": "kube-system/aws-auth",
                "drift": "changed",
                "changes": ["x"],
                "widens_access": True,
                "widening": ["group system:masters added"],
            },
            {
                "kind": "Deployment",
                "name": "castai-agent/castai-agent",
                "drift": "changed",
                "changes": ["set spec"],
                "widens_access": False,
                "widening": [],
            },
        ],
    }
    assert drift_summary(drift) == "2 drifted (1 widen access) at t"
    text = _drift_details([{"cluster_name": "c", "region": "r", "drift": drift}])
    assert "changed ConfigMap kube-system/aws-auth  WIDENS ACCESS" in text
    assert "widens: group system:masters added" in text
    assert "changed Deployment castai-agent/castai-agent\n" in text
