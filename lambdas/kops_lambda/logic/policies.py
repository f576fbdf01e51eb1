"""The IAM policy documents we create in the customer's account, statement by statement.

What each principal may and may never do is the README's threat model; `tests/iam/matrix.py` proves it with an
independent evaluator. The layout:

- `CASTKopsPolicyV2` is shared by every cluster of the account, so it grants nothing: it holds the guardrails
  that hold for every cluster (no IAM identity or policy changes, no permissions-boundary changes, the control
  plane out of reach), as explicit denies that no allow elsewhere can outweigh.
- `cast-kops-<cluster>-policy-<n>`, customer managed policies attached to the cluster's user only, hold every
  allow. Whatever they let the user create or change is named `cast-kops-<cluster>-…` and tagged for its own
  cluster (names alone could collide: cluster `a` would match `cast-kops-a-b-…`); every allow that writes tags
  takes only known keys, so no tag names another cluster or the control plane. They are managed, not inline,
  because IAM caps a user's inline policies at 2,048 characters in all; the statements are packed in order into
  as few policies of at most 6,144 characters as they need.
- `CASTKopsNodeBoundary` is the permissions boundary every role the user creates must carry: what a kOps worker
  node's kubelet and cloud provider read, nothing that writes.
- `CastLambdaRoleForSpot` gets a scoped equivalent of the seed's managed policies (logs of the Spot functions,
  invoking Spot functions only) unless the deployment opts into the seed's exact list.
"""

import json
import re
from typing import Any

from kops_lambda.constants import (
    IAM_USER_PREFIX,
    KOPS_CONTROL_PLANE_ROLE_TAGS,
    KOPS_TAG_CLUSTER,
    KOPS_TAG_CLUSTER_OWNED_PREFIX,
    KOPS_TAG_INSTANCE_GROUP,
    KOPS_TAG_ROLE_PREFIX,
    SPOT_ROLE_NAME,
)
from kops_lambda.errors import PolicyQuotaExceeded
from kops_lambda.logic.iam_names import shorten, user_name

Document = dict[str, Any]

# IAM's quotas, in characters excluding whitespace (AWS refuses larger documents; moto does not check).
MANAGED_POLICY_SIZE_LIMIT = 6_144
# Managed policies attached to one user (the default quota).
USER_ATTACHMENT_LIMIT = 10

BOUNDARY_POLICY_NAME = "CASTKopsNodeBoundary"
SPOT_ROLE_POLICY_NAME = "CastLambdaRoleForSpotScoped"
# Lambda function names allow no dots (cluster names have them): the function is bound by its tag instead.
SPOT_FUNCTION_PATTERN = f"{IAM_USER_PREFIX}spot-*"
# Room for the service's own suffix within IAM's 64 characters.
_PREFIX_LIMIT = 40

MANAGED_POLICIES = (
    "AmazonEC2ReadOnlyAccess",
    "IAMReadOnlyAccess",
    "AmazonEventBridgeReadOnlyAccess",
    "AWSLambda_ReadOnlyAccess",
)
# Opt-in only: the kOps state store holds the cluster CA's private key and secrets.
S3_READ_POLICY = "AmazonS3ReadOnlyAccess"
# The seed's exact list; attached only when the deployment opts in (context `seedSpotRolePolicies`).
SEED_SPOT_ROLE_POLICIES = ("CloudWatchLogsFullAccess", "AWSLambdaRole", "AmazonEC2ReadOnlyAccess")
SPOT_ROLE_POLICIES = ("AmazonEC2ReadOnlyAccess",)
# Managed policies a node role may carry besides its inline ones (the boundary caps them anyway).
NODE_ROLE_MANAGED_POLICIES = ("AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore")

CONTROL_PLANE_GROUPS = ("master-*", "control-plane-*")
# kOps names the control plane's security groups `masters.<cluster>` and `api-elb.<cluster>`.
CONTROL_PLANE_SECURITY_GROUPS = ("masters.*", "api-elb.*")
# Tag keys the service may write (besides its own cluster's `kubernetes.io/cluster/<name>`).
# Not `k8s.io/role/master` or `k8s.io/role/control-plane`: nothing may be made to look like the control plane.
ALLOWED_TAG_KEYS = (
    "Name",
    KOPS_TAG_CLUSTER,
    f"{KOPS_TAG_ROLE_PREFIX}node",
    "k8s.io/cluster-autoscaler/*",
    KOPS_TAG_INSTANCE_GROUP,
    "kops.k8s.io/instance-group-*",
    "cast*",
    "CAST*",
)
# What changes an instance, its volumes, a launch template, a security group or an ASG, by verb: Describe* authorizes
# on `*`, not on these ARNs, so reading stays possible. Verbs, not the actions one by one, keep the shared policy
# far below IAM's 6,144 characters (and cover actions added later).
CONTROL_PLANE_SECURITY_GROUP_ACTIONS = (
    "ec2:Authorize*",
    "ec2:Revoke*",
    "ec2:Modify*",
    "ec2:Delete*",
    "ec2:Create*",
    "ec2:Run*",
)
CONTROL_PLANE_ACTIONS = (
    *CONTROL_PLANE_SECURITY_GROUP_ACTIONS,
    "ec2:Terminate*",
    "ec2:Stop*",
    "ec2:Start*",
    "ec2:Reboot*",
    "ec2:Associate*",
    "ec2:Replace*",
    "ec2:Attach*",
    "ec2:Detach*",
    "autoscaling:Update*",
    "autoscaling:Delete*",
    "autoscaling:Set*",
    "autoscaling:Suspend*",
    "autoscaling:Resume*",
    "autoscaling:Terminate*",
    "autoscaling:Detach*",
    "autoscaling:Attach*",
    "autoscaling:Start*",
    "autoscaling:Put*",
    "autoscaling:Create*",
)
TAGGING_ACTIONS = (
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:RunInstances",
    "ec2:CreateSecurityGroup",
    "ec2:CreateKeyPair",
    "ec2:ImportKeyPair",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:CreateInstanceProfile",
    "iam:TagInstanceProfile",
    "lambda:CreateFunction",
    "lambda:TagResource",
    "lambda:UntagResource",
    "events:PutRule",
    "events:TagResource",
)


def managed_policy_arn(partition: str, name: str) -> str:
    # AWSLambdaRole lives under the service-role path.
    path = "service-role/" if name == "AWSLambdaRole" else ""
    return f"arn:{partition}:iam::aws:policy/{path}{name}"


def boundary_policy_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:policy/{BOUNDARY_POLICY_NAME}"


def cluster_prefix(cluster_name: str) -> str:
    """`cast-kops-<cluster>-`: the names of what the cluster's user may create (roles, profiles, key pairs)."""
    return f"{shorten(f'{IAM_USER_PREFIX}{cluster_name}', _PREFIX_LIMIT)}-"


def shared_policy(*, partition: str, account: str) -> Document:
    """CASTKopsPolicyV2: account-wide guardrails, identical for every cluster; it allows nothing."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The user's identity and every policy stay as onboarding wrote them.
                "Sid": "DenyIdentityAndPolicyChanges",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateUser",
                    "iam:CreateAccessKey",
                    "iam:UpdateAccessKey",
                    "iam:CreateLoginProfile",
                    "iam:UpdateLoginProfile",
                    "iam:AddUserToGroup",
                    "iam:AttachUserPolicy",
                    "iam:PutUserPolicy",
                    "iam:DeleteUserPolicy",
                    "iam:AttachGroupPolicy",
                    "iam:PutGroupPolicy",
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                    "iam:UpdateAssumeRolePolicy",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DenyPermissionsBoundaryChanges",
                "Effect": "Deny",
                "Action": [
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:PutRolePermissionsBoundary",
                    "iam:DeleteUserPermissionsBoundary",
                    "iam:PutUserPermissionsBoundary",
                ],
                "Resource": "*",
            },
            *_control_plane_denies(partition=partition, account=account),
        ],
    }


def _control_plane_denies(*, partition: str, account: str) -> list[Document]:
    """What changes the control plane's instances, volumes, launch templates, security groups and ASGs.

    Describe* calls authorize on `*`, not on these ARNs: reading stays possible. Tags that would make something
    look like the control plane are denied by the per-cluster policy's tag-key allowlist.
    """
    ec2 = f"arn:{partition}:ec2:*:{account}"
    resources = [
        f"{ec2}:instance/*",
        f"{ec2}:volume/*",
        f"{ec2}:launch-template/*",
        f"{ec2}:security-group/*",
        f"arn:{partition}:autoscaling:*:{account}:autoScalingGroup:*:autoScalingGroupName/*",
    ]
    tag = f"aws:ResourceTag/{KOPS_TAG_INSTANCE_GROUP}"
    denies: list[Document] = [
        {
            "Sid": "DenyControlPlaneByInstanceGroup",
            "Effect": "Deny",
            "Action": list(CONTROL_PLANE_ACTIONS),
            "Resource": resources,
            "Condition": {"StringLike": {tag: list(CONTROL_PLANE_GROUPS)}},
        }
    ]
    denies += [
        {
            "Sid": f"DenyControlPlaneBy{_sid(role_tag)}",
            "Effect": "Deny",
            "Action": list(CONTROL_PLANE_ACTIONS),
            "Resource": resources,
            "Condition": {"Null": {f"aws:ResourceTag/{role_tag}": "false"}},
        }
        for role_tag in KOPS_CONTROL_PLANE_ROLE_TAGS
    ]
    denies.append(
        {
            "Sid": "DenyControlPlaneSecurityGroups",
            "Effect": "Deny",
            "Action": list(CONTROL_PLANE_SECURITY_GROUP_ACTIONS),
            "Resource": f"{ec2}:security-group/*",
            "Condition": {"StringLike": {"aws:ResourceTag/Name": list(CONTROL_PLANE_SECURITY_GROUPS)}},
        }
    )
    return denies


def _sid(tag: str) -> str:
    return "".join(part.capitalize() for part in tag.replace(".", "/").replace("-", "/").split("/"))


# Every cluster's managed policies, for the stack's own grants.
CLUSTER_POLICY_PATTERN = f"{IAM_USER_PREFIX}*-policy-*"


def cluster_policy_name(cluster_name: str, index: int) -> str:
    """`cast-kops-<cluster>-policy-<n>`, n from 1: unique per cluster since the user name is."""
    return f"{user_name(cluster_name)}-policy-{index + 1}"


def is_cluster_policy(policy_name: str, user: str) -> bool:
    return re.fullmatch(rf"{re.escape(user)}-policy-\d+", policy_name) is not None


def iam_size(document: Document) -> int:
    """The document's size as IAM counts it: its JSON without whitespace."""
    return len("".join(json.dumps(document).split()))


def cluster_policies(*, partition: str, account: str, region: str, cluster_name: str, vpc_id: str) -> list[Document]:
    """The cluster's statements packed in order into documents within IAM's managed policy quota.

    Greedy and deterministic: each statement goes into the current document unless that would exceed the
    quota; a deny works from whichever of the user's policies holds it, so splitting changes no decision.
    """
    documents: list[Document] = []
    for statement in _cluster_statements(
        partition=partition, account=account, region=region, cluster_name=cluster_name, vpc_id=vpc_id
    ):
        candidate = [*documents[-1]["Statement"], statement] if documents else []
        if documents and iam_size(_policy(candidate)) <= MANAGED_POLICY_SIZE_LIMIT:
            documents[-1] = _policy(candidate)
            continue
        if iam_size(_policy([statement])) > MANAGED_POLICY_SIZE_LIMIT:
            raise PolicyQuotaExceeded(
                f"statement {statement['Sid']} alone exceeds {MANAGED_POLICY_SIZE_LIMIT} characters"
            )
        documents.append(_policy([statement]))
    return documents


def _policy(statements: list[Document]) -> Document:
    return {"Version": "2012-10-17", "Statement": statements}


def _cluster_statements(*, partition: str, account: str, region: str, cluster_name: str, vpc_id: str) -> list[Document]:
    """Every allow of the cluster's user, each scoped to this cluster, and the denies that narrow them."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    iam = f"arn:{partition}:iam::{account}"
    prefix = cluster_prefix(cluster_name)
    boundary = boundary_policy_arn(partition, account)
    tagged = {"StringEquals": {f"ec2:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name}}
    tag_keys = [*ALLOWED_TAG_KEYS, f"{KOPS_TAG_CLUSTER_OWNED_PREFIX}{cluster_name}"]
    owned = {"StringEquals": {f"aws:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name}}
    tagging_for_cluster = {"StringEquals": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": cluster_name}}
    with_boundary = {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    statements: list[Document] = [
        {
            # RunInstances authorizes every resource of a launch; the denies below narrow it.
            "Sid": "RunInstances",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": [
                f"{ec2}:instance/*",
                f"{ec2}:subnet/*",
                f"{ec2}:security-group/*",
                f"{ec2}:network-interface/*",
                f"{ec2}:volume/*",
                f"{ec2}:key-pair/*",
                f"{ec2}:launch-template/*",
                f"{ec2}:spot-instances-request/*",
                f"arn:{partition}:ec2:{region}::image/*",
                f"arn:{partition}:ec2:{region}::snapshot/*",
            ],
        },
        {
            "Sid": "DenyInstancesNotTaggedForCluster",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": f"{ec2}:instance/*",
            "Condition": {"StringNotEquals": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": cluster_name}},
        },
        {
            "Sid": "DenyNetworkOutsideClusterVpc",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": [f"{ec2}:subnet/*", f"{ec2}:security-group/*", f"{ec2}:network-interface/*"],
            "Condition": {"ArnNotEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc_id}"}},
        },
        {
            # Another cluster's security groups and launch templates (a shared VPC has both).
            "Sid": "DenyLaunchWithOtherClustersResources",
            "Effect": "Deny",
            "Action": "ec2:RunInstances",
            "Resource": [f"{ec2}:security-group/*", f"{ec2}:launch-template/*"],
            "Condition": {"StringNotEquals": {f"ec2:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name}},
        },
        {
            "Sid": "ManageClusterInstances",
            "Effect": "Allow",
            "Action": [
                "ec2:TerminateInstances",
                "ec2:StartInstances",
                "ec2:StopInstances",
                "ec2:ModifyInstanceAttribute",
            ],
            "Resource": f"{ec2}:instance/*",
            "Condition": tagged,
        },
        {
            "Sid": "CreateSecurityGroupsInClusterVpc",
            "Effect": "Allow",
            "Action": "ec2:CreateSecurityGroup",
            "Resource": [f"{ec2}:vpc/{vpc_id}", f"{ec2}:security-group/*"],
        },
        {
            "Sid": "DenySecurityGroupsNotTaggedForCluster",
            "Effect": "Deny",
            "Action": "ec2:CreateSecurityGroup",
            "Resource": f"{ec2}:security-group/*",
            "Condition": {"StringNotEquals": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": cluster_name}},
        },
        {
            "Sid": "ManageClusterSecurityGroups",
            "Effect": "Allow",
            "Action": [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:DeleteSecurityGroup",
            ],
            "Resource": f"{ec2}:security-group/*",
            "Condition": tagged,
        },
        {
            "Sid": "ManageClusterAutoScalingGroups",
            "Effect": "Allow",
            "Action": [
                "autoscaling:UpdateAutoScalingGroup",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:SuspendProcesses",
                "autoscaling:ResumeProcesses",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
            ],
            "Resource": f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*",
            "Condition": owned,
        },
        {
            "Sid": "TagWhatIsBeingCreated",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": [
                f"{ec2}:instance/*",
                f"{ec2}:volume/*",
                f"{ec2}:network-interface/*",
                f"{ec2}:security-group/*",
                f"{ec2}:spot-instances-request/*",
                f"{ec2}:key-pair/*",
            ],
            "Condition": {
                "StringEquals": {
                    "ec2:CreateAction": ["RunInstances", "CreateSecurityGroup", "CreateKeyPair", "ImportKeyPair"]
                }
            },
        },
        {
            "Sid": "TagClusterResources",
            "Effect": "Allow",
            "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
            "Resource": [f"{ec2}:instance/*", f"{ec2}:volume/*", f"{ec2}:security-group/*"],
            "Condition": tagged,
        },
        {
            "Sid": "DenyClusterTagOfAnotherValue",
            "Effect": "Deny",
            "Action": list(TAGGING_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": cluster_name},
                "Null": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": "false"},
            },
        },
        {
            "Sid": "DenyControlPlaneInstanceGroupTags",
            "Effect": "Deny",
            "Action": list(TAGGING_ACTIONS),
            "Resource": "*",
            "Condition": {"StringLike": {f"aws:RequestTag/{KOPS_TAG_INSTANCE_GROUP}": list(CONTROL_PLANE_GROUPS)}},
        },
        {
            "Sid": "NodeKeyPairs",
            "Effect": "Allow",
            "Action": ["ec2:CreateKeyPair", "ec2:ImportKeyPair"],
            "Resource": f"{ec2}:key-pair/{prefix}*",
            "Condition": tagging_for_cluster,
        },
        {
            "Sid": "DeleteClusterKeyPairs",
            "Effect": "Allow",
            "Action": "ec2:DeleteKeyPair",
            "Resource": f"{ec2}:key-pair/{prefix}*",
            "Condition": tagged,
        },
        {
            # Only with the boundary, which the shared policy forbids removing or changing.
            "Sid": "CreateNodeRolesWithBoundary",
            "Effect": "Allow",
            "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": with_boundary,
        },
        {
            "Sid": "DenyNodeRolesForOtherClusters",
            "Effect": "Deny",
            "Action": "iam:CreateRole",
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": {"StringNotEquals": {f"aws:RequestTag/{KOPS_TAG_CLUSTER}": cluster_name}},
        },
        {
            "Sid": "AttachNodeManagedPolicies",
            "Effect": "Allow",
            "Action": "iam:AttachRolePolicy",
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": {
                "ArnEquals": {
                    "iam:PermissionsBoundary": boundary,
                    "iam:PolicyARN": [managed_policy_arn(partition, p) for p in NODE_ROLE_MANAGED_POLICIES],
                },
            },
        },
        {
            "Sid": "ManageClusterNodeRoles",
            "Effect": "Allow",
            "Action": [
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
            ],
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": owned,
        },
        {
            "Sid": "TagNodeRolesAtCreation",
            "Effect": "Allow",
            "Action": "iam:TagRole",
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": tagging_for_cluster,
        },
        {
            "Sid": "PassNodeRolesToEc2",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{iam}:role/{prefix}*",
            "Condition": {
                "StringEquals": {
                    f"aws:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name,
                    "iam:PassedToService": "ec2.amazonaws.com",
                }
            },
        },
        {
            "Sid": "CreateNodeInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"],
            "Resource": f"{iam}:instance-profile/{prefix}*",
            "Condition": tagging_for_cluster,
        },
        {
            "Sid": "ManageNodeInstanceProfiles",
            "Effect": "Allow",
            "Action": [
                "iam:DeleteInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
            ],
            "Resource": f"{iam}:instance-profile/{prefix}*",
            "Condition": owned,
        },
        {
            "Sid": "PassSpotRoleToLambda",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{iam}:role/{SPOT_ROLE_NAME}",
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        },
        {
            "Sid": "CreateSpotInterruptionFunction",
            "Effect": "Allow",
            "Action": ["lambda:CreateFunction", "lambda:TagResource"],
            "Resource": f"arn:{partition}:lambda:{region}:{account}:function:{SPOT_FUNCTION_PATTERN}",
            "Condition": tagging_for_cluster,
        },
        {
            "Sid": "ManageSpotInterruptionFunction",
            "Effect": "Allow",
            "Action": [
                "lambda:DeleteFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:AddPermission",
                "lambda:RemovePermission",
            ],
            "Resource": f"arn:{partition}:lambda:{region}:{account}:function:{SPOT_FUNCTION_PATTERN}",
            "Condition": owned,
        },
        {
            "Sid": "SpotInterruptionRule",
            "Effect": "Allow",
            "Action": [
                "events:PutRule",
                "events:DeleteRule",
                "events:PutTargets",
                "events:RemoveTargets",
            ],
            "Resource": f"arn:{partition}:events:{region}:{account}:rule/{prefix}*",
        },
    ]
    # Tags are how every statement tells clusters apart: whatever writes tags writes only known keys, never
    # `kubernetes.io/cluster/<another cluster>` (a missing aws:TagKeys, no tags written, passes ForAllValues).
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and set(actions) & set(TAGGING_ACTIONS):
            statement.setdefault("Condition", {})["ForAllValues:StringLike"] = {"aws:TagKeys": tag_keys}
    return statements


def boundary_policy(*, partition: str) -> Document:
    """CASTKopsNodeBoundary: the most any role the user creates can do, what a kOps worker node reads."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Describe* and ECR's token support no resource-level permissions.
                "Sid": "NodeReads",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeInstances",
                    "ec2:DescribeRegions",
                    "ec2:DescribeInstanceTypes",
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "ecr:GetAuthorizationToken",
                ],
                "Resource": "*",
            },
            {
                "Sid": "PullImages",
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                "Resource": f"arn:{partition}:ecr:*:*:repository/*",
            },
        ],
    }


def spot_role_policy(*, partition: str, account: str) -> Document:
    """CastLambdaRoleForSpot's scoped equivalent of CloudWatchLogsFullAccess and AWSLambdaRole."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SpotFunctionLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:{partition}:logs:*:{account}:log-group:/aws/lambda/{SPOT_FUNCTION_PATTERN}",
            },
            {
                "Sid": "InvokeSpotFunctionsOnly",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"arn:{partition}:lambda:*:{account}:function:{SPOT_FUNCTION_PATTERN}",
            },
        ],
    }


def spot_role_trust_policy(*, account: str) -> Document:
    """CastLambdaRoleForSpot: assumable by Lambda functions of this account only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def canonical(document: Document) -> str:
    """Stable text of a document, to tell whether a stored version differs."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
