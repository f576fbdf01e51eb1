"""The policies we create in customers' accounts: linted, and each known hole shown absent."""

import itertools
import json
from typing import Any

import parliament
import pytest

from kops_lambda.logic import policies

SHARED = policies.shared_policy(partition="aws", account="123456789012")
CLUSTER_POLICIES = policies.cluster_policies(
    partition="aws", account="123456789012", region="eu-west-1", cluster_name="a.k8s.local", vpc_id="vpc-0abc"
)
# The cluster's statements as one document: what the user holds across its cluster policies.
INLINE = {"Version": "2012-10-17", "Statement": [s for d in CLUSTER_POLICIES for s in d["Statement"]]}
TRUST = policies.spot_role_trust_policy(account="123456789012")


def _statements(document: dict[str, Any], action: str, effect: str = "Allow") -> list[dict[str, Any]]:
    def actions(s: dict[str, Any]) -> list[str]:
        return [s["Action"]] if isinstance(s["Action"], str) else s["Action"]

    return [s for s in document["Statement"] if s["Effect"] == effect and action in actions(s)]


def _resources(statement: dict[str, Any]) -> list[str]:
    return [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]


BOUNDARY = policies.boundary_policy(partition="aws")
SPOT_ROLE = policies.spot_role_policy(partition="aws", account="123456789012")


@pytest.mark.parametrize(
    "document",
    [SHARED, *CLUSTER_POLICIES, BOUNDARY, SPOT_ROLE],
    ids=[
        "CASTKopsPolicyV2",
        *(policies.cluster_policy_name("a.k8s.local", i) for i in range(len(CLUSTER_POLICIES))),
        "CASTKopsNodeBoundary",
        "CastLambdaRoleForSpotScoped",
    ],
)
def test_parliament_finds_nothing(document: dict[str, Any]) -> None:
    findings = parliament.analyze_policy_string(json.dumps(document)).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_cluster_statements_are_packed_in_order_within_the_quota() -> None:
    # Each document fits IAM's managed policy quota, and adding the next statement would not have
    sizes = [policies.iam_size(d) for d in CLUSTER_POLICIES]
    assert len(CLUSTER_POLICIES) > 1 and max(sizes) <= policies.MANAGED_POLICY_SIZE_LIMIT
    for document, following in itertools.pairwise(CLUSTER_POLICIES):
        joined = {**document, "Statement": [*document["Statement"], following["Statement"][0]]}
        assert policies.iam_size(joined) > policies.MANAGED_POLICY_SIZE_LIMIT
    # And the packing is deterministic: the same input gives the same documents
    again = policies.cluster_policies(
        partition="aws", account="123456789012", region="eu-west-1", cluster_name="a.k8s.local", vpc_id="vpc-0abc"
    )
    assert again == CLUSTER_POLICIES


def test_cluster_policy_names_belong_to_one_user() -> None:
    name = policies.cluster_policy_name("a.k8s.local", 0)
    assert name == "cast-kops-a.k8s.local-policy-1"
    assert policies.is_cluster_policy(name, "cast-kops-a.k8s.local")
    # Cluster `a`'s user does not own the policies of cluster `a.k8s.local`, nor other names
    assert not policies.is_cluster_policy(name, "cast-kops-a")
    assert not policies.is_cluster_policy("cast-kops-a.k8s.local-policy-x", "cast-kops-a.k8s.local")


def test_no_allow_statement_has_a_bare_star_resource() -> None:
    for document in (SHARED, INLINE):
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                assert "*" not in _resources(statement), statement["Sid"]


def test_the_shared_policy_allows_nothing() -> None:
    assert {s["Effect"] for s in SHARED["Statement"]} == {"Deny"}


def test_create_tags_only_while_creating_or_on_the_clusters_resources() -> None:
    for document in (SHARED, INLINE):
        for statement in _statements(document, "ec2:CreateTags"):
            condition = statement["Condition"]["StringEquals"]
            assert "ec2:CreateAction" in condition or condition == {
                "ec2:ResourceTag/KubernetesCluster": "a.k8s.local"
            }, statement["Sid"]


def test_pass_role_only_named_roles_and_two_services() -> None:
    statements = _statements(SHARED, "iam:PassRole") + _statements(INLINE, "iam:PassRole")
    assert statements
    for statement in statements:
        assert not any(r.endswith(":role/*") for r in _resources(statement))
        assert statement["Condition"]["StringEquals"]["iam:PassedToService"] in {
            "ec2.amazonaws.com",
            "lambda.amazonaws.com",
        }


def test_delete_role_never_account_wide() -> None:
    for statement in _statements(SHARED, "iam:DeleteRole") + _statements(INLINE, "iam:DeleteRole"):
        for resource in _resources(statement):
            assert not resource.endswith(":role/*") and ":role/cast-kops-" in resource


def test_run_instances_requires_cluster_tag_and_vpc() -> None:
    assert not _statements(SHARED, "ec2:RunInstances"), "the shared policy must not allow RunInstances"
    (tag_deny,) = [s for s in _statements(INLINE, "ec2:RunInstances", "Deny") if "instance/*" in str(s["Resource"])]
    assert tag_deny["Condition"] == {"StringNotEquals": {"aws:RequestTag/KubernetesCluster": "a.k8s.local"}}
    (vpc_deny,) = [s for s in _statements(INLINE, "ec2:RunInstances", "Deny") if "subnet/*" in str(s["Resource"])]
    assert vpc_deny["Condition"] == {"ArnNotEquals": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0abc"}}


def test_instance_and_asg_writes_are_conditioned_on_the_cluster_tag() -> None:
    for action in ("ec2:TerminateInstances", "autoscaling:UpdateAutoScalingGroup", "ec2:DeleteSecurityGroup"):
        (statement,) = _statements(INLINE, action)
        assert "a.k8s.local" in json.dumps(statement["Condition"])


def test_spot_role_trust_is_lambda_of_this_account_only() -> None:
    (statement,) = TRUST["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
