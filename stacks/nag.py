"""cdk-nag AwsSolutions checks at synth time, and every acknowledgement with its reason, in one place.

Remaining violations make `app.synth()` raise; the report is `cdk.out/validation-report.json`.
"""

from collections.abc import Iterable, Sequence

import aws_cdk as cdk
import jsii
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from kops_lambda.constants import (
    AGENT_API_KEY_SECRET_NAME,
    CLUSTER_SECRET_PREFIX,
    DRAINER_SECRET_KIND,
    IAM_USER_PREFIX,
    VENDOR_KUBECONFIG_SECRET_KIND,
)
from kops_lambda.logic.policies import CLUSTER_POLICY_PATTERN
from stacks.context import context_list
from stacks.kops_onboard_stack import DEFAULT_STATE_STORE_BUCKETS

# The objects of a kOps state store the steps read, and why each may be matched in every cluster's path.
STATE_STORE_OBJECTS = {
    "kops-version.txt": (
        "kOps state stores are the customer's buckets (context stateStoreBuckets); only kops-version.txt "
        "of any cluster path is readable."
    ),
    "config": (
        "kOps state stores are the customer's buckets (context stateStoreBuckets); only the cluster spec "
        "object (config) of any cluster path is readable, never pki/ or secrets/."
    ),
}


def state_store_acknowledgements(buckets: Iterable[str]) -> dict[str, str]:
    return {
        f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/*/{key}]": reason
        for bucket in buckets
        for key, reason in STATE_STORE_OBJECTS.items()
    }


ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
        "Only actions without resource-level permissions: xray:PutTraceSegments/PutTelemetryRecords (X-Ray "
        "tracing), ec2:Describe*, autoscaling:Describe* (cluster discovery, Spot instance lookup; with the cluster "
        "network settings also Lambda's DescribeNetworkInterfaces/DescribeSubnets), "
        "iam:ListPolicies (finding a cluster's managed policies, to snapshot and remove them)."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
    f"<AWS::AccountId>:secret:{CLUSTER_SECRET_PREFIX}*]": (
        "Per-cluster secrets are created at run time under this product's own name prefix; "
        "a prefix is the narrowest ARN that can name them before they exist."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
    f"<AWS::AccountId>:secret:{CLUSTER_SECRET_PREFIX}*/kubeconfig-*]": (
        "Each cluster's kubeconfig secret is named kops-onboard/clusters/<cluster>/kubeconfig; Secrets Manager "
        "appends a random 6-character suffix, so the ARN can only be matched with a wildcard."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
    f"<AWS::AccountId>:secret:{AGENT_API_KEY_SECRET_NAME}-*]": (
        "The agent API key secret has a fixed name; the wildcard only matches the random suffix Secrets Manager "
        "appends to every secret ARN."
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
    "execution:*]": (
        "states:DescribeExecution only, by the first state of each workflow: a cluster lease whose holder "
        "execution has ended is taken over. Naming our state machines here would make their functions "
        "depend on them (a cycle); the wildcard stays inside this account and region, read-only."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/{IAM_USER_PREFIX}*]": (
        "One IAM user per onboarded cluster, named cast-kops-<cluster> at run time; scoped to that prefix."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:"
    f"policy/{CLUSTER_POLICY_PATTERN}]": (
        "Each cluster's allows are customer managed policies named cast-kops-<cluster>-policy-<n> at run time "
        "(IAM caps a user's inline policies at 2,048 characters); scoped to that name pattern."
    ),
    **state_store_acknowledgements(DEFAULT_STATE_STORE_BUCKETS),
    **{
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<Onboarding{name}Function{suffix}.Arn>:*]": (
            "Step Functions' LambdaInvoke grant covers the function's versions and aliases (ARN:*); "
            "it names our own function only."
        )
        for name, suffix in (
            ("ValidateCluster", "030BCFB4"),
            ("CreateIamEntities", "AFB78811"),
            ("CreateKeyPair", "5081E6AD"),
            ("MapIdentity", "7BCB6AE3"),
            ("IssueDrainerCredential", "E5532304"),
            ("InstallAgent", "B25A1EED"),
            ("StoreAccessKey", "352EA561"),
            ("RecordOnboarded", "FC97C611"),
            ("RecordBaseline", "6B1B0816"),
            ("PlanOnboarding", "8BF17ADA"),
        )
    },
    **{
        f"AwsSolutions::AwsSolutions-IAM5[Resource::<Cleanup{name}Function{suffix}.Arn>:*]": (
            "Step Functions' LambdaInvoke grant covers the function's versions and aliases (ARN:*); "
            "it names our own rollback/offboarding function only."
        )
        for name, suffix in (
            ("Registry", "33D3227D"),
            ("IamEntities", "B922329C"),
            ("KeyPair", "CAFAF0C1"),
            ("AccessKey", "E901B23F"),
            ("IdentityMapping", "809625F2"),
            ("DrainerCredential", "AB788944"),
            ("Agent", "C5488F6F"),
            ("InFlight", "67D9962B"),
        )
    },
    **{
        f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
        f"<AWS::AccountId>:secret:{CLUSTER_SECRET_PREFIX}*/{kind}-*]": (
            f"Each cluster's {kind} secret (written by its onboarding step, deleted by rollback and offboarding) "
            f"is named kops-onboard/clusters/<cluster>/{kind} at run time plus Secrets Manager's random suffix; the "
            "wildcards match those two parts only, never the customer's kubeconfig secrets under the prefix."
        )
        for kind in ("access-key", "ssh-private-key", DRAINER_SECRET_KIND, VENDOR_KUBECONFIG_SECRET_KIND)
    },
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
    "execution:<OnboardingStateMachineFC9EE32A.Name>:*]": (
        "states:GetExecutionHistory only, by the compensation's FindStepInFlight: the executions of the "
        "onboarding state machine, named at run time; the wildcard matches the execution name only."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
    f"<AWS::AccountId>:secret:{CLUSTER_SECRET_PREFIX}*/{DRAINER_SECRET_KIND}-??????]": (
        "Each cluster's Spot drainer credential is named kops-onboard/clusters/<cluster>/spot-drainer at run "
        "time; `*` is the cluster, `??????` exactly Secrets Manager's random suffix. The Spot handler reads, "
        "IssueDrainerCredential writes only these (the reader also needs our managed-by tag on the secret)."
    ),
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
    f"<AWS::AccountId>:secret:{CLUSTER_SECRET_PREFIX}*/access-key-??????]": (
        "Only with context accessKeyRotationDays: the rotation stores a new version of each cluster's access-key "
        "secret, named kops-onboard/clusters/<cluster>/access-key at run time; `*` is the cluster, `??????` exactly "
        "Secrets Manager's random suffix (the secret must also carry our managed-by tag)."
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
    "network-interface/*]": (
        "Only with the cluster network settings (stacks/network.py): Lambda deletes and re-addresses the network "
        "interfaces it creates for a VPC function, whose ids exist only at run time; this account and region only, "
        "and creating one is limited to the configured subnets and security groups."
    ),
    "AwsSolutions::AwsSolutions-L1": (
        "Python 3.13: bytecode is compiled at synth time by a local interpreter of the runtime's version, "
        "and 3.13 is the newest available where this is built."
    ),
}


# Acknowledged in each region of spotRegions (these statements name one ARN per region clusters may be in).
SPOT_REGION_ACKNOWLEDGEMENTS: dict[str, str] = {
    f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:"
    f"key-pair/{IAM_USER_PREFIX}*]": "One EC2 key pair per cluster, in its region, named like its user at run time.",
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:"
    "autoScalingGroup:*:autoScalingGroupName/*]": (
        "Early Spot replacement detaches an interrupted instance from whichever kOps ASG holds it; ASG ARNs "
        "embed a random id, so the statement is narrowed by the condition on the KubernetesCluster tag instead."
    ),
}

# The pseudo parameters the acknowledgements spell out, by the stack attribute that replaces them in its ARNs.
PSEUDO_PARAMETERS = {"<AWS::Partition>": "partition", "<AWS::Region>": "region", "<AWS::AccountId>": "account"}
_REGION = "<AWS::Region>"


def apply_nag(scope: IConstruct, *, spot_regions: Sequence[str] = ()) -> None:
    """`spot_regions`: the regions clusters may be in (context spotRegions, home region first)."""
    cdk.Validations.of(scope).add_plugins(AwsSolutionsChecks(scope, verbose=True))
    for rule, reason in {**ACKNOWLEDGEMENTS, **SPOT_REGION_ACKNOWLEDGEMENTS}.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
    known_regions = tuple(region for region in spot_regions if not cdk.Token.is_unresolved(region))
    cdk.Aspects.of(scope).add(AcknowledgeInStackEnvironment(known_regions))


@jsii.implements(cdk.IAspect)
class AcknowledgeInStackEnvironment:
    """What only a stack knows: the state store buckets of its context (`-c stateStoreBuckets=...`), and, when it
    is given a region or account (the CDK CLI passes the deployer's), those values in its ARNs where an
    environment-agnostic stack has pseudo parameters. Acknowledges the same findings in that stack's spelling;
    those of SPOT_REGION_ACKNOWLEDGEMENTS also spelled with each covered region."""

    def __init__(self, spot_regions: Sequence[str]) -> None:
        self.spot_regions = spot_regions

    def visit(self, node: IConstruct) -> None:
        if not cdk.Stack.is_stack(node):
            return
        stack = cdk.Stack.of(node)
        concrete = {
            pseudo: value
            for pseudo, attribute in PSEUDO_PARAMETERS.items()
            if not cdk.Token.is_unresolved(value := getattr(stack, attribute))
        }
        buckets = context_list(stack, "stateStoreBuckets") or []
        regional = {
            rule.replace(_REGION, region): reason
            for rule, reason in SPOT_REGION_ACKNOWLEDGEMENTS.items()
            for region in self.spot_regions
        }
        app_wide = {**ACKNOWLEDGEMENTS, **SPOT_REGION_ACKNOWLEDGEMENTS}
        for rule, reason in {**app_wide, **state_store_acknowledgements(buckets), **regional}.items():
            spelled = rule
            for pseudo, value in concrete.items():
                spelled = spelled.replace(pseudo, value)
            if spelled not in app_wide:  # the app acknowledges those for every stack
                cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(id=spelled, reason=reason))
