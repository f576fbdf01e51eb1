"""The IAM matrix: (principal x action x resource with its tags and request context) → expected decision.

One table, read three ways: `test_matrix.py` evaluates every row with PMapper against the policies as onboarding
wrote them (read back with GetAccountAuthorizationDetails) and against the vendor's public policy; `CHAINS` lists
escalation paths as rows that must all be allowed for the path to work (each must have a denied one); and
`render()` is the table in the README (a test keeps the two equal).

Principals: `A`, `B` — the users `cast-kops-<cluster>` of two onboarded clusters; `spot` — CastLambdaRoleForSpot;
`node-A` — the worst role A's user can make: its own name, tagged for A, the boundary, `*:*` inline (what the
boundary leaves of it is all it could ever do); `stack` — the ValidateCluster function's role, one of ours;
`handler` — our Spot handler function's role, which the Spot canary runs as (its registry and renewal grants
included); `plan` — the PlanOnboarding function's role (`plan_only: true`); `drift` — the scheduled drift check's role;
`vendor-A` — A's user as the vendor's public script sets it up (for the side-by-side only).
Placeholders in resources and tags (`{A}`, `{A.vpc}`, `{ec2}`, …) are filled from the local account.
"""

from dataclasses import dataclass, field
from typing import Any

ALLOW, DENY = "allow", "deny"


@dataclass(frozen=True)
class Row:
    name: str
    principal: str
    action: str
    resource: str
    expected: str
    # Tags of the resource acted on; request tags (tag-on-create, TagResource); other condition keys.
    tags: dict[str, str] = field(default_factory=dict)
    request_tags: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    # What the vendor's public policy decides for the same request (None: not comparable, e.g. our stack).
    vendor: str | None = None
    # The fix whose revert makes this row fail (for the README and the closing note).
    guards: str = ""


@dataclass(frozen=True)
class Chain:
    name: str
    steps: tuple[str, ...]  # row names, in order; the chain works only if every one is allowed


WORKER = {"KubernetesCluster": "{A}", "kubernetes.io/cluster/{A}": "owned", "k8s.io/role/node": "1"}
WORKER_IG = {**WORKER, "kops.k8s.io/instancegroup": "nodes-{zone}"}
MASTER = {
    "KubernetesCluster": "{A}",
    "kubernetes.io/cluster/{A}": "owned",
    "k8s.io/role/master": "1",
    "kops.k8s.io/instancegroup": "master-{zone}",
}
# Newer kOps versions tag control-plane groups k8s.io/role/control-plane as well: denied on that key alone too.
CONTROL_PLANE = {
    "KubernetesCluster": "{A}",
    "kubernetes.io/cluster/{A}": "owned",
    "k8s.io/role/control-plane": "1",
    "kops.k8s.io/instancegroup": "control-plane-{zone}",
}
B_WORKER = {"KubernetesCluster": "{B}", "kubernetes.io/cluster/{B}": "owned", "k8s.io/role/node": "1"}
NEW_WORKER = {"KubernetesCluster": "{A}", "kubernetes.io/cluster/{A}": "owned", "Name": "cast-{A}"}
IN_A_VPC = {"ec2:Vpc": "{ec2}:vpc/{A.vpc}"}
BOUNDARY = {"iam:PermissionsBoundary": "{boundary}"}
FOR_A = {"KubernetesCluster": "{A}"}
OURS = {"managed-by": "kops-onboard", "cluster": "{A}"}
CANARY_READS = ["cluster_key", "cluster_name", "region", "status", "resources"]

# fmt: off
ROWS: tuple[Row, ...] = (
    # ---- What the seed says the user must be able to do: allowed ----
    Row("A launches a worker tagged for A", "A", "ec2:RunInstances", "{ec2}:instance/*", ALLOW,
        request_tags=NEW_WORKER, vendor=ALLOW),
    Row("A launches into its subnet", "A", "ec2:RunInstances", "{ec2}:subnet/{A.subnet}", ALLOW, context=IN_A_VPC,
        vendor=ALLOW),
    Row("A launches with its nodes security group", "A", "ec2:RunInstances", "{ec2}:security-group/{A.nodes_sg}",
        ALLOW, tags={"KubernetesCluster": "{A}", "Name": "nodes.{A}"}, context=IN_A_VPC, vendor=ALLOW),
    Row("A launches with its node launch template", "A", "ec2:RunInstances", "{ec2}:launch-template/{A.nodes_lt}",
        ALLOW, tags=WORKER_IG, vendor=DENY),
    Row("A tags the instance it launches", "A", "ec2:CreateTags", "{ec2}:instance/*", ALLOW, request_tags=NEW_WORKER,
        context={"ec2:CreateAction": "RunInstances"}, vendor=ALLOW),
    Row("A terminates its worker", "A", "ec2:TerminateInstances", "{ec2}:instance/{A.worker}", ALLOW, tags=WORKER_IG,
        vendor=ALLOW),
    Row("A modifies its worker", "A", "ec2:ModifyInstanceAttribute", "{ec2}:instance/{A.worker}", ALLOW,
        tags=WORKER_IG, vendor=ALLOW),
    Row("A scales its worker ASG", "A", "autoscaling:UpdateAutoScalingGroup", "{A.nodes_asg}", ALLOW, tags=WORKER_IG,
        vendor=ALLOW),
    Row("A creates a security group in its VPC", "A", "ec2:CreateSecurityGroup", "{ec2}:vpc/{A.vpc}", ALLOW,
        request_tags=FOR_A, vendor=DENY),
    Row("A creates the security group tagged for A", "A", "ec2:CreateSecurityGroup", "{ec2}:security-group/*", ALLOW,
        request_tags=FOR_A, vendor=DENY),
    Row("A opens a port on its nodes security group", "A", "ec2:AuthorizeSecurityGroupIngress",
        "{ec2}:security-group/{A.nodes_sg}", ALLOW, tags={"KubernetesCluster": "{A}", "Name": "nodes.{A}"},
        vendor=DENY),
    Row("A creates a key pair for A", "A", "ec2:CreateKeyPair", "{ec2}:key-pair/{A.prefix}nodes", ALLOW,
        request_tags=FOR_A, vendor=ALLOW),
    Row("A creates a node role with the boundary", "A", "iam:CreateRole", "{iam}:role/{A.prefix}nodes", ALLOW,
        request_tags=FOR_A, context=BOUNDARY, vendor=DENY),
    Row("A puts a policy on its node role", "A", "iam:PutRolePolicy", "{iam}:role/{A.prefix}nodes", ALLOW, tags=FOR_A,
        context=BOUNDARY, vendor=DENY),
    Row("A creates an instance profile for A", "A", "iam:CreateInstanceProfile",
        "{iam}:instance-profile/{A.prefix}nodes", ALLOW, request_tags=FOR_A, vendor=DENY),
    Row("A adds its node role to its profile", "A", "iam:AddRoleToInstanceProfile",
        "{iam}:instance-profile/{A.prefix}nodes", ALLOW, tags=FOR_A, vendor=DENY),
    Row("A passes its node role to EC2", "A", "iam:PassRole", "{iam}:role/{A.prefix}nodes", ALLOW, tags=FOR_A,
        context={"iam:PassedToService": "ec2.amazonaws.com"}, vendor=ALLOW),
    Row("A passes CastLambdaRoleForSpot to Lambda", "A", "iam:PassRole", "{iam}:role/CastLambdaRoleForSpot", ALLOW,
        context={"iam:PassedToService": "lambda.amazonaws.com"}, vendor=ALLOW),
    Row("A creates the Spot function tagged for A", "A", "lambda:CreateFunction", "{lambda}:function:cast-kops-spot-a",
        ALLOW, request_tags=FOR_A, vendor=ALLOW),
    Row("A updates its Spot function", "A", "lambda:UpdateFunctionCode", "{lambda}:function:cast-kops-spot-a", ALLOW,
        tags=FOR_A, vendor=ALLOW),
    Row("A writes its Spot rule", "A", "events:PutRule", "{events}:rule/{A.prefix}spot", ALLOW, vendor=ALLOW),
    Row("A reads EC2 (AmazonEC2ReadOnlyAccess)", "A", "ec2:DescribeInstances", "*", ALLOW, vendor=ALLOW),
    Row("spot writes its function's logs", "spot", "logs:PutLogEvents",
        "{logs}:log-group:/aws/lambda/cast-kops-spot-a:log-stream:x", ALLOW, vendor=ALLOW),
    Row("spot invokes a Spot function", "spot", "lambda:InvokeFunction", "{lambda}:function:cast-kops-spot-a", ALLOW,
        vendor=ALLOW),
    Row("node-A reads instances (boundary)", "node-A", "ec2:DescribeInstances", "*", ALLOW),
    Row("stack reads a state store of this account", "stack", "s3:GetObject", "arn:aws:s3:::kops-state-x/{A}/config",
        ALLOW, context={"s3:ResourceAccount": "{account}"}),
    # ---- The control plane ----
    Row("A terminates its master", "A", "ec2:TerminateInstances", "{ec2}:instance/{A.master}", DENY, tags=MASTER,
        vendor=ALLOW, guards="control plane denied"),
    Row("A modifies its master's user data", "A", "ec2:ModifyInstanceAttribute", "{ec2}:instance/{A.master}", DENY,
        tags=MASTER, vendor=ALLOW, guards="control plane denied"),
    Row("A deletes its master ASG", "A", "autoscaling:DeleteAutoScalingGroup", "{A.master_asg}", DENY, tags=MASTER,
        vendor=ALLOW, guards="control plane denied"),
    Row("A launches from its master launch template", "A", "ec2:RunInstances", "{ec2}:launch-template/{A.master_lt}",
        DENY, tags=MASTER, vendor=DENY, guards="control plane denied"),
    Row("A opens a port on its masters security group", "A", "ec2:AuthorizeSecurityGroupIngress",
        "{ec2}:security-group/{A.masters_sg}", DENY, tags={"KubernetesCluster": "{A}", "Name": "masters.{A}"},
        vendor=DENY, guards="control plane denied"),
    Row("A tags its worker as a master", "A", "ec2:CreateTags", "{ec2}:instance/{A.worker}", DENY, tags=WORKER_IG,
        request_tags={"k8s.io/role/master": "1"}, vendor=ALLOW, guards="tag keys limited"),
    # ---- Another cluster, untagged resources ----
    Row("A terminates B's worker", "A", "ec2:TerminateInstances", "{ec2}:instance/{B.worker}", DENY, tags=B_WORKER,
        vendor=DENY),
    Row("A scales B's ASG", "A", "autoscaling:UpdateAutoScalingGroup", "{B.nodes_asg}", DENY, tags=B_WORKER,
        vendor=DENY),
    Row("A launches with B's security group (shared VPC)", "A", "ec2:RunInstances",
        "{ec2}:security-group/{B.nodes_sg}", DENY, tags={"KubernetesCluster": "{B}", "Name": "nodes.{B}"},
        context={"ec2:Vpc": "{ec2}:vpc/{B.vpc}"}, vendor=ALLOW, guards="launch resources tagged for the cluster"),
    Row("A launches a network interface outside its VPC", "A", "ec2:RunInstances", "{ec2}:network-interface/*", DENY,
        context={"ec2:Vpc": "{ec2}:vpc/vpc-0another"}, vendor=ALLOW, guards="network interfaces in the cluster VPC"),
    Row("A launches an instance tagged for B", "A", "ec2:RunInstances", "{ec2}:instance/*", DENY,
        request_tags={"KubernetesCluster": "{B}"}, vendor=DENY),
    Row("A tags a new instance kubernetes.io/cluster/B", "A", "ec2:RunInstances", "{ec2}:instance/*", DENY,
        request_tags={**NEW_WORKER, "kubernetes.io/cluster/{B}": "owned"},
        vendor=ALLOW, guards="tag keys limited"),
    Row("A creates a role named for B", "A", "iam:CreateRole", "{iam}:role/{B.prefix}nodes", DENY,
        request_tags={"KubernetesCluster": "{B}"}, context=BOUNDARY, vendor=DENY, guards="per-cluster names"),
    Row("A passes B's node role to EC2", "A", "iam:PassRole", "{iam}:role/{B.prefix}nodes", DENY,
        tags={"KubernetesCluster": "{B}"}, context={"iam:PassedToService": "ec2.amazonaws.com"}, vendor=ALLOW,
        guards="per-cluster names and tags"),
    Row("A passes kOps' own node role to EC2", "A", "iam:PassRole", "{iam}:role/nodes.{A}", DENY,
        context={"iam:PassedToService": "ec2.amazonaws.com"}, vendor=ALLOW),
    Row("A deletes B's key pair", "A", "ec2:DeleteKeyPair", "{ec2}:key-pair/{B.prefix}nodes", DENY,
        tags={"KubernetesCluster": "{B}"}, vendor=ALLOW, guards="per-cluster names and tags"),
    Row("A updates B's Spot function", "A", "lambda:UpdateFunctionCode", "{lambda}:function:cast-kops-spot-b", DENY,
        tags={"KubernetesCluster": "{B}"}, vendor=ALLOW, guards="per-cluster tags"),
    Row("A terminates an untagged instance", "A", "ec2:TerminateInstances", "{ec2}:instance/i-0untagged", DENY,
        vendor=DENY),
    Row("A deletes an untagged security group", "A", "ec2:DeleteSecurityGroup", "{ec2}:security-group/sg-0x", DENY,
        vendor=DENY),
    # ---- Above the cluster: IAM, our stack, the account ----
    Row("A creates a role without the boundary", "A", "iam:CreateRole", "{iam}:role/{A.prefix}x", DENY,
        request_tags=FOR_A, vendor=DENY, guards="permissions boundary"),
    Row("A creates a role with AdministratorAccess as boundary", "A", "iam:CreateRole", "{iam}:role/{A.prefix}x", DENY,
        request_tags=FOR_A, context={"iam:PermissionsBoundary": "{admin}"}, vendor=DENY, guards="permissions boundary"),
    Row("A puts a policy on a role without the boundary", "A", "iam:PutRolePolicy", "{iam}:role/{A.prefix}x", DENY,
        tags=FOR_A, vendor=DENY, guards="permissions boundary"),
    Row("A attaches AdministratorAccess to its node role", "A", "iam:AttachRolePolicy", "{iam}:role/{A.prefix}nodes",
        DENY, tags=FOR_A, context={"iam:PermissionsBoundary": "{boundary}", "iam:PolicyARN": "{admin}"}, vendor=DENY),
    Row("A removes its node role's boundary", "A", "iam:DeleteRolePermissionsBoundary", "{iam}:role/{A.prefix}nodes",
        DENY, tags=FOR_A, vendor=DENY),
    Row("A changes the boundary policy", "A", "iam:CreatePolicyVersion", "{boundary}", DENY, vendor=DENY),
    Row("A adds a version to CASTKopsPolicyV2", "A", "iam:CreatePolicyVersion", "{iam}:policy/CASTKopsPolicyV2", DENY,
        vendor=DENY),
    Row("A attaches AdministratorAccess to itself", "A", "iam:AttachUserPolicy", "{iam}:user/{A.user}", DENY,
        context={"iam:PolicyARN": "{admin}"}, vendor=DENY),
    Row("A creates an access key for B", "A", "iam:CreateAccessKey", "{iam}:user/{B.user}", DENY, vendor=DENY),
    Row("A creates a login profile", "A", "iam:CreateLoginProfile", "{iam}:user/{A.user}", DENY, vendor=DENY),
    Row("A updates our stack's function", "A", "lambda:UpdateFunctionCode", "{stack_function}", DENY, vendor=ALLOW),
    Row("A invokes our stack's function", "A", "lambda:InvokeFunction", "{stack_function}", DENY, vendor=DENY),
    Row("A reads our stored access key of B", "A", "secretsmanager:GetSecretValue", "{B.access_key_secret}", DENY,
        vendor=DENY),
    Row("spot invokes our stack's function", "spot", "lambda:InvokeFunction", "{stack_function}", DENY, vendor=ALLOW,
        guards="scoped Spot role"),
    Row("spot reads our stored access key of A", "spot", "secretsmanager:GetSecretValue", "{A.access_key_secret}",
        DENY, vendor=DENY),
    Row("node-A creates a user (boundary)", "node-A", "iam:CreateUser", "{iam}:user/x", DENY,
        guards="permissions boundary"),
    Row("node-A attaches AdministratorAccess", "node-A", "iam:AttachRolePolicy", "{iam}:role/{A.prefix}nodes", DENY,
        context={"iam:PolicyARN": "{admin}"}, guards="permissions boundary"),
    Row("node-A terminates B's worker", "node-A", "ec2:TerminateInstances", "{ec2}:instance/{B.worker}", DENY,
        tags=B_WORKER, guards="permissions boundary"),
    Row("node-A reads our stored access key of B", "node-A", "secretsmanager:GetSecretValue", "{B.access_key_secret}",
        DENY, guards="permissions boundary"),
    Row("stack reads a kops-state bucket of another account", "stack", "s3:GetObject",
        "arn:aws:s3:::kops-state-x/{B}/config", DENY, context={"s3:ResourceAccount": "999999999999"},
        guards="s3:ResourceAccount"),
    # ---- Our Spot handler's role: its drainer credential per cluster, and no other secret ----
    Row("handler reads A's drainer credential", "handler", "secretsmanager:GetSecretValue", "{A.drainer_secret}",
        ALLOW, tags=OURS),
    Row("handler reads a drainer-named secret not tagged ours", "handler", "secretsmanager:GetSecretValue",
        "{A.drainer_secret}", DENY, guards="managed-by tag condition"),
    Row("handler reads a longer name under A's drainer's", "handler", "secretsmanager:GetSecretValue",
        "{secretsmanager}:secret:kops-onboard/clusters/{A}/spot-drainer-old-AbCdEf", DENY, tags=OURS,
        guards="exactly Secrets Manager's 6-character suffix"),
    Row("handler reads A's admin kubeconfig", "handler", "secretsmanager:GetSecretValue", "{A.kubeconfig_secret}",
        DENY, tags=OURS, guards="drainer credential only"),
    Row("handler reads our stored access key of A", "handler", "secretsmanager:GetSecretValue",
        "{A.access_key_secret}", DENY, tags=OURS, guards="drainer credential only"),
    Row("handler reads our stored private key of A", "handler", "secretsmanager:GetSecretValue",
        "{A.private_key_secret}", DENY, tags=OURS, guards="drainer credential only"),
    # ---- The same role as the Spot canary: the registry attributes it reads and writes, token renewal ----
    Row("handler renews A's drainer token", "handler", "secretsmanager:PutSecretValue", "{A.drainer_secret}", ALLOW,
        tags=OURS),
    Row("handler lists the onboarded clusters", "handler", "dynamodb:Scan", "{registry}", ALLOW,
        context={"dynamodb:Select": "SPECIFIC_ATTRIBUTES", "dynamodb:Attributes": CANARY_READS}),
    Row("handler records a canary result", "handler", "dynamodb:UpdateItem", "{registry}", ALLOW,
        context={"dynamodb:Attributes": ["cluster_key", "canary"], "dynamodb:ReturnValues": "NONE"}),
    Row("handler overwrites our stored access key of A", "handler", "secretsmanager:PutSecretValue",
        "{A.access_key_secret}", DENY, tags=OURS, guards="drainer credential only"),
    Row("handler scans whole registry items", "handler", "dynamodb:Scan", "{registry}", DENY,
        context={"dynamodb:Select": "ALL_ATTRIBUTES"}, guards="dynamodb:Select"),
    Row("handler rewrites a cluster's status", "handler", "dynamodb:UpdateItem", "{registry}", DENY,
        context={"dynamodb:Attributes": ["cluster_key", "status"], "dynamodb:ReturnValues": "NONE"},
        guards="dynamodb:Attributes"),
    Row("handler reads items back through UpdateItem", "handler", "dynamodb:UpdateItem", "{registry}", DENY,
        context={"dynamodb:Attributes": ["cluster_key", "canary"], "dynamodb:ReturnValues": "ALL_OLD"},
        guards="dynamodb:ReturnValues"),
    # ---- Early replacement: detach from kOps worker ASGs, in the regions the Spot rules cover (spotRegions) ----
    Row("handler detaches A's worker from its ASG", "handler", "autoscaling:DetachInstances", "{A.nodes_asg}", ALLOW,
        tags=WORKER_IG),
    Row("handler detaches from an ASG no cluster tagged", "handler", "autoscaling:DetachInstances", "{A.nodes_asg}",
        DENY, guards="KubernetesCluster tag condition"),
    Row("handler detaches A's master from its ASG", "handler", "autoscaling:DetachInstances", "{A.master_asg}", DENY,
        tags=MASTER, guards="no control-plane ASG (k8s.io/role/master)"),
    Row("handler detaches from a control-plane ASG tagged the newer way", "handler", "autoscaling:DetachInstances",
        "{A.master_asg}", DENY, tags=CONTROL_PLANE, guards="no control-plane ASG (k8s.io/role/control-plane)"),
    Row("handler detaches in a region the Spot rules do not cover", "handler", "autoscaling:DetachInstances",
        "arn:aws:autoscaling:eu-west-1:{account}:autoScalingGroup:0f0f0f0f-0000-4000-8000-000000000000:"
        "autoScalingGroupName/nodes-eu-west-1a.{A}", DENY, tags=WORKER_IG, guards="covered regions only (spotRegions)"),
    # ---- Lifecycle hooks: heartbeats and CONTINUE for instances of kOps-tagged ASGs, in the covered regions ----
    Row("handler completes a lifecycle action of A's worker ASG", "handler", "autoscaling:CompleteLifecycleAction",
        "{A.nodes_asg}", ALLOW, tags=WORKER_IG),
    Row("handler sends a lifecycle heartbeat for A's worker ASG", "handler",
        "autoscaling:RecordLifecycleActionHeartbeat", "{A.nodes_asg}", ALLOW, tags=WORKER_IG),
    Row("handler completes a lifecycle action of an ASG no cluster tagged", "handler",
        "autoscaling:CompleteLifecycleAction", "{A.nodes_asg}", DENY, guards="KubernetesCluster tag condition"),
    Row("handler completes a lifecycle action in a region the Spot rules do not cover", "handler",
        "autoscaling:CompleteLifecycleAction",
        "arn:aws:autoscaling:eu-west-1:{account}:autoScalingGroup:0f0f0f0f-0000-4000-8000-000000000000:"
        "autoScalingGroupName/nodes-eu-west-1a.{A}", DENY, tags=WORKER_IG, guards="covered regions only (spotRegions)"),
    Row("handler puts a lifecycle hook on A's worker ASG", "handler", "autoscaling:PutLifecycleHook",
        "{A.nodes_asg}", DENY, tags=WORKER_IG, guards="no hook changes (the operator owns the hook)"),
    # ---- The plan's role (PlanOnboarding): reads what onboarding may create, writes nothing ----
    Row("plan reads A's user and its policies", "plan", "iam:ListAttachedUserPolicies", "{iam}:user/{A.user}", ALLOW),
    Row("plan reads CASTKopsPolicyV2's document", "plan", "iam:GetPolicyVersion", "{iam}:policy/CASTKopsPolicyV2",
        ALLOW),
    Row("plan reads the Spot role's inline policy", "plan", "iam:GetRolePolicy", "{iam}:role/CastLambdaRoleForSpot",
        ALLOW),
    Row("plan lists the Spot role's inline policies (to delete those not ours)", "plan", "iam:ListRolePolicies",
        "{iam}:role/CastLambdaRoleForSpot", ALLOW),
    Row("plan describes A's stored access key", "plan", "secretsmanager:DescribeSecret", "{A.access_key_secret}",
        ALLOW, tags=OURS),
    Row("plan reads A's admin kubeconfig (to read the cluster)", "plan", "secretsmanager:GetSecretValue",
        "{A.kubeconfig_secret}", ALLOW),
    Row("plan reads the registry", "plan", "dynamodb:GetItem", "{registry}", ALLOW),
    Row("plan reads our stored access key of A", "plan", "secretsmanager:GetSecretValue", "{A.access_key_secret}",
        DENY, tags=OURS, guards="secrets described, never read"),
    Row("plan reads our stored private key of A", "plan", "secretsmanager:GetSecretValue", "{A.private_key_secret}",
        DENY, tags=OURS, guards="secrets described, never read"),
    Row("plan writes a secret", "plan", "secretsmanager:PutSecretValue", "{A.access_key_secret}", DENY, tags=OURS,
        guards="plan writes nothing"),
    Row("plan creates a cluster user", "plan", "iam:CreateUser", "{iam}:user/cast-kops-new.k8s.local", DENY,
        guards="plan writes nothing"),
    Row("plan attaches a policy to A's user", "plan", "iam:AttachUserPolicy", "{iam}:user/{A.user}", DENY,
        context={"iam:PolicyARN": "{admin}"}, guards="plan writes nothing"),
    Row("plan rewrites CASTKopsPolicyV2", "plan", "iam:CreatePolicyVersion", "{iam}:policy/CASTKopsPolicyV2", DENY,
        guards="plan writes nothing"),
    Row("plan puts the Spot role's inline policy", "plan", "iam:PutRolePolicy", "{iam}:role/CastLambdaRoleForSpot",
        DENY, guards="plan writes nothing"),
    Row("plan creates an access key for A", "plan", "iam:CreateAccessKey", "{iam}:user/{A.user}", DENY,
        guards="plan writes nothing"),
    Row("plan creates A's key pair", "plan", "ec2:CreateKeyPair", "{ec2}:key-pair/{A.user}", DENY,
        guards="plan writes nothing"),
    Row("plan writes the registry", "plan", "dynamodb:PutItem", "{registry}", DENY, guards="plan writes nothing"),
    Row("plan takes a cluster's lease (UpdateItem)", "plan", "dynamodb:UpdateItem", "{registry}", DENY,
        guards="plan writes nothing"),
    # ---- The drift check's role: the plan's reads, secrets' resource policies, the registry's drift attribute ----
    Row("drift reads A's user's keys", "drift", "iam:ListAccessKeys", "{iam}:user/{A.user}", ALLOW),
    Row("drift reads A's cluster policy", "drift", "iam:GetPolicyVersion", "{iam}:policy/{A.user}-policy-1", ALLOW),
    Row("drift lists the Spot role's inline policies", "drift", "iam:ListRolePolicies",
        "{iam}:role/CastLambdaRoleForSpot", ALLOW),
    Row("drift reads A's access-key secret's resource policy", "drift", "secretsmanager:GetResourcePolicy",
        "{A.access_key_secret}", ALLOW),
    Row("drift reads A's admin kubeconfig (to read the cluster)", "drift", "secretsmanager:GetSecretValue",
        "{A.kubeconfig_secret}", ALLOW),
    Row("drift records a cluster's drift", "drift", "dynamodb:UpdateItem", "{registry}", ALLOW,
        context={"dynamodb:Attributes": ["cluster_key", "drift"], "dynamodb:ReturnValues": "NONE"}),
    Row("drift writes another attribute (status)", "drift", "dynamodb:UpdateItem", "{registry}", DENY,
        context={"dynamodb:Attributes": ["cluster_key", "status"], "dynamodb:ReturnValues": "NONE"},
        guards="dynamodb:Attributes"),
    Row("drift reads our stored access key of A", "drift", "secretsmanager:GetSecretValue", "{A.access_key_secret}",
        DENY, tags=OURS, guards="kubeconfig values only"),
    Row("drift changes a secret's resource policy", "drift", "secretsmanager:PutResourcePolicy",
        "{A.access_key_secret}", DENY, tags=OURS, guards="drift writes nothing else"),
    Row("drift rewrites A's cluster policy", "drift", "iam:CreatePolicyVersion", "{iam}:policy/{A.user}-policy-1",
        DENY, guards="drift writes nothing else"),
    Row("drift attaches a policy to A's user", "drift", "iam:AttachUserPolicy", "{iam}:user/{A.user}", DENY,
        context={"iam:PolicyARN": "{admin}"}, guards="drift writes nothing else"),
    Row("drift deletes A's access key", "drift", "iam:DeleteAccessKey", "{iam}:user/{A.user}", DENY,
        guards="drift writes nothing else"),
)
# fmt: on

CHAINS: tuple[Chain, ...] = (
    Chain(
        "new role without boundary, admin policy on it",
        ("A creates a role without the boundary", "A puts a policy on a role without the boundary"),
    ),
    Chain(
        "new role with boundary, then act as it",
        (
            "A creates a node role with the boundary",
            "A puts a policy on its node role",
            "node-A creates a user (boundary)",
        ),
    ),
    Chain(
        "instance profile + RunInstances, then the instance's credentials",
        (
            "A creates an instance profile for A",
            "A adds its node role to its profile",
            "A passes its node role to EC2",
            "A launches a worker tagged for A",
            "node-A attaches AdministratorAccess",
        ),
    ),
    Chain("boundary removed", ("A removes its node role's boundary",)),
    Chain("boundary policy rewritten", ("A changes the boundary policy",)),
    Chain("policy version on the shared policy", ("A adds a version to CASTKopsPolicyV2",)),
    Chain("managed admin policy on a node role", ("A attaches AdministratorAccess to its node role",)),
    Chain(
        "code as CastLambdaRoleForSpot, then our functions",
        (
            "A passes CastLambdaRoleForSpot to Lambda",
            "A creates the Spot function tagged for A",
            "spot invokes our stack's function",
        ),
    ),
    Chain("our function's code replaced", ("A updates our stack's function",)),
    Chain("access keys of another user", ("A creates an access key for B",)),
    Chain("console login", ("A creates a login profile",)),
    Chain(
        "B's node role on an instance A launches", ("A passes B's node role to EC2", "A launches a worker tagged for A")
    ),
    Chain(
        "B's security group on an instance A launches",
        ("A launches with B's security group (shared VPC)", "A launches a worker tagged for A"),
    ),
    Chain(
        "A's master rewritten (user data → cluster CA)",
        ("A modifies its master's user data", "A terminates its master"),
    ),
)


def row(name: str) -> Row:
    return next(r for r in ROWS if r.name == name)


def fill(template: str, facts: dict[str, str]) -> str:
    for key in sorted(facts, key=len, reverse=True):  # `{A.vpc}` before `{A}`
        template = template.replace(f"{{{key}}}", facts[key])
    return template


def query(entry: Row, principals: dict[str, str], facts: dict[str, str]) -> dict[str, Any]:
    """The evaluator's request: the resource's tags and the request tags as the condition keys AWS sets."""
    context: dict[str, Any] = {}
    service = entry.action.split(":", 1)[0]
    for key, value in entry.tags.items():
        context[f"aws:ResourceTag/{fill(key, facts)}"] = fill(value, facts)
        if service in {"ec2", "autoscaling", "secretsmanager"}:
            context[f"{service}:ResourceTag/{fill(key, facts)}"] = fill(value, facts)
    for key, value in entry.request_tags.items():
        context[f"aws:RequestTag/{fill(key, facts)}"] = fill(value, facts)
    if entry.request_tags:
        context["aws:TagKeys"] = [fill(key, facts) for key in entry.request_tags]
    for key, value in entry.context.items():
        context[key] = fill(value, facts) if isinstance(value, str) else value
    return {
        "principal": principals[entry.principal],
        "action": entry.action,
        "resource": fill(entry.resource, facts),
        "context": context,
    }


def _cell(entry: Row) -> str:
    parts = [f"tags {_pairs(entry.tags)}" if entry.tags else "", f"request tags {_pairs(entry.request_tags)}"]
    parts.append(", ".join(f"{k}={v}" for k, v in entry.context.items()))
    return "; ".join(p for p in parts if p and p != "request tags ").replace("|", "\\|")


def _pairs(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def render() -> str:
    """The README's matrix: every row, its expected decision, the vendor's, the fix it guards; then the chains."""
    lines = [
        "| # | Principal | Action | Resource | Tags and context | Ours | Vendor | Guards |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, entry in enumerate(ROWS, 1):
        lines.append(
            f"| {number} | {entry.principal} | `{entry.action}` | {entry.name}: `{entry.resource}` | "
            f"{_cell(entry)} | {entry.expected} | {entry.vendor or '-'} | {entry.guards} |"
        )
    lines += ["", "| Escalation chain | Steps (rows) | Blocked at (ours) |", "|---|---|---|"]
    for chain in CHAINS:
        numbers = [str(ROWS.index(row(step)) + 1) for step in chain.steps]
        blocked = next((row(step) for step in chain.steps if row(step).expected == DENY), None)
        lines.append(
            f"| {chain.name} | {' → '.join(numbers)} | "
            f"{ROWS.index(blocked) + 1 if blocked else 'NOT BLOCKED'}: {blocked.name if blocked else ''} |"
        )
    return "\n".join(lines)
