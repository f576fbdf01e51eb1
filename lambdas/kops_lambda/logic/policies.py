"""The IAM policy documents we create in the customer's account, statement by statement.

`CASTKopsPolicyV2` is shared by every cluster of the account, so it holds only what cannot leak across
clusters: names under our own prefixes, create-time tagging, and read-only or tag-enforcing actions.
Everything that changes a cluster's running resources lives in the per-cluster inline policy
`CASTKopsRestrictedaccess`, conditioned on the cluster's tag and VPC. The README's "Policies" section
explains each statement.
"""

import json
from typing import Any

from kops_lambda.constants import IAM_USER_PREFIX, KOPS_TAG_CLUSTER, SPOT_ROLE_NAME

Document = dict[str, Any]

# Node roles and instance profiles the service creates for its nodes carry our user prefix.
NODE_ROLE_PATTERN = f"{IAM_USER_PREFIX}*"
SPOT_FUNCTION_PATTERN = f"{IAM_USER_PREFIX}spot-*"
SPOT_RULE_PATTERN = f"{IAM_USER_PREFIX}spot-*"

MANAGED_POLICIES = (
    "AmazonEC2ReadOnlyAccess",
    "IAMReadOnlyAccess",
    "AmazonEventBridgeReadOnlyAccess",
    "AWSLambda_ReadOnlyAccess",
)
# Opt-in only: the kOps state store holds the cluster CA's private key and secrets.
S3_READ_POLICY = "AmazonS3ReadOnlyAccess"
SPOT_ROLE_POLICIES = ("CloudWatchLogsFullAccess", "AWSLambdaRole", "AmazonEC2ReadOnlyAccess")


def managed_policy_arn(partition: str, name: str) -> str:
    # AWSLambdaRole lives under the service-role path.
    path = "service-role/" if name == "AWSLambdaRole" else ""
    return f"arn:{partition}:iam::aws:policy/{path}{name}"


def shared_policy(*, partition: str, account: str) -> Document:
    """CASTKopsPolicyV2: account-wide, identical for every cluster."""
    iam = f"arn:{partition}:iam::{account}"
    ec2 = f"arn:{partition}:ec2:*:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NodeInstanceProfiles",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateInstanceProfile",
                    "iam:DeleteInstanceProfile",
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                ],
                "Resource": f"{iam}:instance-profile/{NODE_ROLE_PATTERN}",
            },
            {
                "Sid": "NodeRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                ],
                "Resource": f"{iam}:role/{NODE_ROLE_PATTERN}",
            },
            {
                "Sid": "PassNodeRolesToEc2",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"{iam}:role/{NODE_ROLE_PATTERN}",
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            {
                "Sid": "PassSpotRoleToLambda",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"{iam}:role/{SPOT_ROLE_NAME}",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
            {
                "Sid": "NodeKeyPairs",
                "Effect": "Allow",
                "Action": ["ec2:CreateKeyPair", "ec2:ImportKeyPair", "ec2:DeleteKeyPair"],
                "Resource": f"{ec2}:key-pair/{IAM_USER_PREFIX}*",
            },
            {
                "Sid": "TagOnlyWhatIsBeingCreated",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": [
                    f"{ec2}:instance/*",
                    f"{ec2}:volume/*",
                    f"{ec2}:network-interface/*",
                    f"{ec2}:security-group/*",
                    f"{ec2}:spot-instances-request/*",
                ],
                "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateSecurityGroup"]}},
            },
            {
                "Sid": "SpotInterruptionFunction",
                "Effect": "Allow",
                "Action": [
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:TagResource",
                ],
                "Resource": f"arn:{partition}:lambda:*:{account}:function:{SPOT_FUNCTION_PATTERN}",
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
                "Resource": f"arn:{partition}:events:*:{account}:rule/{SPOT_RULE_PATTERN}",
            },
        ],
    }


def restricted_policy(*, partition: str, account: str, region: str, cluster_name: str, vpc_id: str) -> Document:
    """CASTKopsRestrictedaccess: inline on the cluster's user, every write scoped to this cluster."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    cluster_tag = {"StringEquals": {f"ec2:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # RunInstances authorizes every resource of a launch; the two denies below narrow it.
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
                "Resource": [f"{ec2}:subnet/*", f"{ec2}:security-group/*"],
                "Condition": {"ArnNotEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc_id}"}},
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
                "Condition": cluster_tag,
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
                "Condition": cluster_tag,
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
                ],
                "Resource": f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{KOPS_TAG_CLUSTER}": cluster_name}},
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
