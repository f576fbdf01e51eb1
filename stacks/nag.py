"""cdk-nag AwsSolutions checks at synth time, and every acknowledgement with its reason, in one place.

Remaining violations make `app.synth()` raise; the report is `cdk.out/validation-report.json`.
"""

from collections.abc import Sequence

import aws_cdk as cdk
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

ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
        "Only actions without resource-level permissions: xray:PutTraceSegments/PutTelemetryRecords (X-Ray "
        "tracing), ec2:Describe*, autoscaling:Describe* (cluster discovery, Spot instance lookup), "
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
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::kops-state-*/*/kops-version.txt]": (
        "kOps state stores are the customer's buckets (context stateStoreBuckets); only kops-version.txt "
        "of any cluster path is readable."
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::kops-state-*/*/config]": (
        "kOps state stores are the customer's buckets (context stateStoreBuckets); only the cluster spec "
        "object (config) of any cluster path is readable, never pki/ or secrets/."
    ),
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
_REGION, _ACCOUNT = "<AWS::Region>", "<AWS::AccountId>"


def apply_nag(scope: IConstruct, *, account: str | None = None, spot_regions: Sequence[str] = ()) -> None:
    """Where the account and the regions (the home region first of `spot_regions`) are known at synth, the
    findings name them in place of the pseudo parameters: each acknowledgement is given in that form too."""
    cdk.Validations.of(scope).add_plugins(AwsSolutionsChecks(scope, verbose=True))
    regions = [_REGION if cdk.Token.is_unresolved(region) else region for region in spot_regions] or [_REGION]
    acknowledgements = {
        **{_concrete(rule, regions[0], account): reason for rule, reason in ACKNOWLEDGEMENTS.items()},
        **{
            _concrete(rule, region, account): reason
            for rule, reason in SPOT_REGION_ACKNOWLEDGEMENTS.items()
            for region in regions
        },
    }
    for rule, reason in acknowledgements.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def _concrete(rule: str, region: str, account: str | None) -> str:
    return rule.replace(_REGION, region).replace(_ACCOUNT, account or _ACCOUNT)
