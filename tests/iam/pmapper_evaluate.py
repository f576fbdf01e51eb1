"""Runs under Python 3.9 in the PMapper venv (PMapper 1.1.5 breaks on 3.10+), never imported by the suite.

Reads one JSON document on stdin:
  {"authorization_details": <GetAccountAuthorizationDetails, pages merged>,
   "queries": [{"principal": ARN, "action": ..., "resource": ..., "context": {key: str | [str]},
                "resource_policy": <optional policy document>, "resource_owner": <its account, with one>}]}
and prints {"decisions": [bool, ...], "edges": [[source ARN, destination ARN, reason], ...], "admins": [ARN]}.

Decisions come from PMapper's local policy simulation (`local_check_authorization_full`: identity policies,
permissions boundary, the resource's policy when given, explicit denies, conditions). Edges are PMapper's own
privilege-escalation edges between the principals of the account (IAM, STS, EC2, Lambda, Auto Scaling checks,
offline), admins its admin test.
"""

import json
import sys
import urllib.parse

from principalmapper.common import Node, Policy
from principalmapper.graphing import autoscaling_edges, ec2_edges, iam_edges, lambda_edges, sts_edges
from principalmapper.graphing.gathering import update_admin_status
from principalmapper.querying.query_interface import local_check_authorization_full


def _document(value):
    return value if isinstance(value, dict) else json.loads(urllib.parse.unquote(value))


def _managed_policies(details):
    policies = {}
    for item in details.get("Policies", []):
        default = next(v for v in item["PolicyVersionList"] if v["IsDefaultVersion"])
        name = item.get("PolicyName") or item["Arn"].rsplit("/", 1)[-1]
        policies[item["Arn"]] = Policy(item["Arn"], name, _document(default["Document"]))
    return policies


def _node(item, kind, managed):
    inline_key = "UserPolicyList" if kind == "user" else "RolePolicyList"
    attached = [managed[p["PolicyArn"]] for p in item.get("AttachedManagedPolicies", [])]
    attached += [Policy(item["Arn"], p["PolicyName"], _document(p["PolicyDocument"])) for p in item.get(inline_key, [])]
    boundary_arn = (item.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return Node(
        arn=item["Arn"],
        id_value=item["UserId" if kind == "user" else "RoleId"],
        attached_policies=attached,
        group_memberships=[],
        trust_policy=_document(item["AssumeRolePolicyDocument"]) if kind == "role" else None,
        instance_profile=[p["Arn"] for p in item.get("InstanceProfileList", [])] if kind == "role" else None,
        num_access_keys=0,
        active_password=False,
        is_admin=False,
        permissions_boundary=managed[boundary_arn] if boundary_arn else None,
        has_mfa=False,
        tags={t["Key"]: t["Value"] for t in item.get("Tags", [])},
    )


def main():
    request = json.load(sys.stdin)
    details = request["authorization_details"]
    managed = _managed_policies(details)
    nodes = [_node(u, "user", managed) for u in details.get("UserDetailList", [])]
    nodes += [_node(r, "role", managed) for r in details.get("RoleDetailList", [])]
    by_arn = {node.arn: node for node in nodes}
    decisions = [
        local_check_authorization_full(
            by_arn[q["principal"]],
            q["action"],
            q["resource"],
            q.get("context", {}),
            resource_policy=q.get("resource_policy"),
            resource_owner=q.get("resource_owner"),
        )
        for q in request["queries"]
    ]
    update_admin_status(nodes)
    edges = []
    edges += iam_edges.generate_edges_locally(nodes)
    edges += sts_edges.generate_edges_locally(nodes)
    edges += ec2_edges.generate_edges_locally(nodes)
    edges += lambda_edges.generate_edges_locally(nodes, [])
    edges += autoscaling_edges.generate_edges_locally(nodes, None, [])
    json.dump(
        {
            "decisions": decisions,
            "edges": [[e.source.arn, e.destination.arn, e.reason] for e in edges],
            "admins": [n.arn for n in nodes if n.is_admin],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
