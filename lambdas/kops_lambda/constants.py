"""Names and ids shared by the CDK app, the Lambda runtime, the local system and the tests."""

from typing import Final

PRODUCT: Final = "kops-onboard"

# Tags we put on everything we create, so ownership is provable.
TAG_MANAGED_BY: Final = "managed-by"
TAG_MANAGED_BY_VALUE: Final = PRODUCT
TAG_CLUSTER: Final = "cluster"

# kOps' own tags on cluster resources.
KOPS_TAG_CLUSTER: Final = "KubernetesCluster"
KOPS_TAG_CLUSTER_OWNED_PREFIX: Final = "kubernetes.io/cluster/"
KOPS_TAG_INSTANCE_GROUP: Final = "kops.k8s.io/instancegroup"
KOPS_TAG_ROLE_PREFIX: Final = "k8s.io/role/"

SUPPORTED_KOPS_VERSIONS: Final = ("1.11", "1.15", "1.17", "1.18", "1.20", "1.21", "1.22")

# Entities created in the customer's account (names from the vendor's onboarding page).
IAM_USER_PREFIX: Final = "cast-kops-"
SHARED_POLICY_NAME: Final = "CASTKopsPolicyV2"
INLINE_POLICY_NAME: Final = "CASTKopsRestrictedaccess"
SPOT_ROLE_NAME: Final = "CastLambdaRoleForSpot"

# Secrets Manager naming: everything we read or write lives under this prefix.
SECRET_PREFIX: Final = "kops-onboard/"
CLUSTER_SECRET_PREFIX: Final = "kops-onboard/clusters/"


def kubeconfig_secret_name(cluster_name: str) -> str:
    """Default name of the secret holding a cluster's kubeconfig."""
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/kubeconfig"


# Environment variables the stack sets on the functions.
ENV_REGISTRY_TABLE: Final = "REGISTRY_TABLE_NAME"
ENV_IDEMPOTENCY_TABLE: Final = "IDEMPOTENCY_TABLE_NAME"
ENV_SECRETS_KMS_KEY: Final = "SECRETS_KMS_KEY_ARN"
ENV_SPOT_DRY_RUN: Final = "SPOT_DRY_RUN"
ENV_SPOT_HANDLER_ROLE_ARN: Final = "SPOT_HANDLER_ROLE_ARN"

METRICS_NAMESPACE: Final = "KopsOnboard"

# Spot path.
SPOT_EVENT_SOURCE: Final = "aws.ec2"
SPOT_DETAIL_TYPES: Final = (
    "EC2 Spot Instance Interruption Warning",
    "EC2 Instance Rebalance Recommendation",
)
SPOT_TAINT_KEY: Final = "kops-onboard.io/spot-interruption"
EXCLUDE_FROM_LB_LABEL: Final = "node.kubernetes.io/exclude-from-external-load-balancers"

# Onboarding workflow: state name -> key under which its result lands in the execution state.
ONBOARDING_STEPS: Final = (
    ("ValidateCluster", "cluster"),
    ("CreateIamEntities", "iam"),
    ("CreateKeyPair", "key_pair"),
    ("MapIdentity", "identity_mapping"),
    ("InstallAgent", "agent"),
    ("StoreAccessKey", "access_key"),
    ("RecordOnboarded", "registry"),
)


AGENT_API_KEY_SECRET_NAME: Final = "kops-onboard/agent-api-key"


def access_key_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/access-key"


def private_key_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/ssh-private-key"
