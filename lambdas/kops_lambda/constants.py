"""Names and ids shared by the CDK app, the Lambda runtime, the local system and the tests."""

from typing import Final

PRODUCT: Final = "kops-onboard"

# Tags we put on everything we create, so ownership is provable.
TAG_MANAGED_BY: Final = "managed-by"
TAG_MANAGED_BY_VALUE: Final = PRODUCT
TAG_CLUSTER: Final = "cluster"
# On entities the vendor's script made and onboarding adopted (input `adopt_existing`): offboarding leaves them.
TAG_ADOPTED: Final = "kops-onboard-adopted"

# kOps' own tags on cluster resources.
KOPS_TAG_CLUSTER: Final = "KubernetesCluster"
KOPS_TAG_CLUSTER_OWNED_PREFIX: Final = "kubernetes.io/cluster/"
KOPS_TAG_INSTANCE_GROUP: Final = "kops.k8s.io/instancegroup"
KOPS_TAG_ROLE_PREFIX: Final = "k8s.io/role/"
# kOps tags a control-plane instance group's ASG and instances with one or both (newer versions add the second).
KOPS_CONTROL_PLANE_ROLE_TAGS: Final = (f"{KOPS_TAG_ROLE_PREFIX}master", f"{KOPS_TAG_ROLE_PREFIX}control-plane")

SUPPORTED_KOPS_VERSIONS: Final = ("1.11", "1.15", "1.17", "1.18", "1.20", "1.21", "1.22")

# Entities created in the customer's account (names from the vendor's onboarding page).
IAM_USER_PREFIX: Final = "cast-kops-"
SHARED_POLICY_NAME: Final = "CASTKopsPolicyV2"
# The seed's inline policy: onboarding deletes it (its allows are in the cluster's managed policies now).
LEGACY_INLINE_POLICY_NAME: Final = "CASTKopsRestrictedaccess"
SPOT_ROLE_NAME: Final = "CastLambdaRoleForSpot"

# Secrets Manager naming: everything we read or write lives under this prefix.
SECRET_PREFIX: Final = "kops-onboard/"
CLUSTER_SECRET_PREFIX: Final = f"{SECRET_PREFIX}clusters/"


def kubeconfig_secret_name(cluster_name: str) -> str:
    """Default name of the secret holding a cluster's kubeconfig."""
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/kubeconfig"


# Environment variables the stack sets on the functions.
ENV_REGISTRY_TABLE: Final = "REGISTRY_TABLE_NAME"
ENV_IDEMPOTENCY_TABLE: Final = "IDEMPOTENCY_TABLE_NAME"
ENV_SECRETS_KMS_KEY: Final = "SECRETS_KMS_KEY_ARN"
# Principals allowed to read the secrets we create (comma-separated ARN patterns).
ENV_SECRET_READER_ARNS: Final = "SECRET_READER_ARNS"
ENV_SPOT_DRY_RUN: Final = "SPOT_DRY_RUN"
# The regions whose Spot events reach this deployment (the stack's own first), comma-separated.
ENV_SPOT_REGIONS: Final = "SPOT_REGIONS"
SPOT_FORWARDER_STACK_PREFIX: Final = "KopsOnboardSpotForwarder"


def spot_forwarder_stack_name(region: str) -> str:
    """The stack that forwards `region`'s Spot events to the home region (stacks/spot_forwarder.py)."""
    return f"{SPOT_FORWARDER_STACK_PREFIX}-{region}"


ENV_SPOT_HANDLER_ROLE_ARN: Final = "SPOT_HANDLER_ROLE_ARN"
# "true": CastLambdaRoleForSpot gets the seed's exact managed policies (CDK context `seedSpotRolePolicies`).
ENV_SEED_SPOT_ROLE_POLICIES: Final = "SEED_SPOT_ROLE_POLICIES"

METRICS_NAMESPACE: Final = "KopsOnboard"

# Spot path.
SPOT_EVENT_SOURCE: Final = "aws.ec2"
SPOT_WARNING_DETAIL_TYPE: Final = "EC2 Spot Instance Interruption Warning"
# An interruptible Capacity Reservation reclaimed by its owner: two minutes' notice, like a Spot warning.
CAPACITY_RESERVATION_WARNING_DETAIL_TYPE: Final = "EC2 Capacity Reservation Instance Interruption Warning"
SPOT_DETAIL_TYPES: Final = (
    SPOT_WARNING_DETAIL_TYPE,
    "EC2 Instance Rebalance Recommendation",
    CAPACITY_RESERVATION_WARNING_DETAIL_TYPE,
)
# An ASG's termination lifecycle hook (scale-in, rebalancing, instance refresh): the instance waits in
# Terminating:Wait until the action is completed or the hook's heartbeat timeout passes. The rule matches only
# the hook of this name (spotLifecycleHookName), so hooks of other tools (NTH's) are never completed by us.
LIFECYCLE_EVENT_SOURCE: Final = "aws.autoscaling"
LIFECYCLE_DETAIL_TYPE: Final = "EC2 Instance-terminate Lifecycle Action"
LIFECYCLE_TERMINATING: Final = "autoscaling:EC2_INSTANCE_TERMINATING"
DEFAULT_LIFECYCLE_HOOK_NAME: Final = "kops-onboard-drain"
# AWS Health's scheduled changes of EC2 instances (retirement, stop, reboot maintenance), days ahead: one
# event names every affected instance; each is handled at receipt, well before the scheduled time.
HEALTH_EVENT_SOURCE: Final = "aws.health"
HEALTH_DETAIL_TYPE: Final = "AWS Health Event"
SPOT_TAINT_KEY: Final = "kops-onboard.io/spot-interruption"
# The taint of non-graceful node shutdown (GA in Kubernetes 1.28): the pod GC force-deletes what is left on the
# node and the attach-detach controller detaches its volumes at once, instead of after minutes of NotReady.
OUT_OF_SERVICE_TAINT_KEY: Final = "node.kubernetes.io/out-of-service"
OUT_OF_SERVICE_TAINT_VALUE: Final = "nodeshutdown"
EXCLUDE_FROM_LB_LABEL: Final = "node.kubernetes.io/exclude-from-external-load-balancers"
# State changes are matched by a second rule, filtered on detail.state (every launch would match otherwise).
SPOT_STATE_CHANGE_DETAIL_TYPE: Final = "EC2 Instance State-change Notification"
SPOT_STATE_CHANGE_STATES: Final = ("stopping", "shutting-down", "terminated")
# EC2 sends the interruption warning two minutes before it reclaims the instance.
SPOT_NOTICE_SECONDS: Final = 120
# Dedup records outlive every follow-up of one interruption (warning, state changes, SQS retries: minutes),
# and expire before a stopped/hibernated Spot instance could plausibly be interrupted again.
SPOT_DEDUP_TTL_SECONDS: Final = 900
SPOT_DEDUP_KEY_PREFIX: Final = "spot-interruption"
# Kubernetes Events we record on the node (reasons).
SPOT_EVENT_REASON_INTERRUPTION: Final = "SpotInterruption"
SPOT_EVENT_REASON_REPLACEMENT: Final = "SpotReplacementRequested"
SPOT_EVENT_REASON_DRAIN_COMPLETE: Final = "DrainComplete"
SPOT_EVENT_REASON_DRAIN_INCOMPLETE: Final = "DrainIncomplete"
ASG_NAME_TAG: Final = "aws:autoscaling:groupName"
# Records per SQS batch; the handler works on a batch's records in parallel (one thread each).
SPOT_BATCH_SIZE: Final = 10

# Spot handler settings (environment variables; CDK context keys in stacks/spot.py).
ENV_SPOT_WARNING_ACTION: Final = "SPOT_WARNING_ACTION"
ENV_SPOT_REBALANCE_ACTION: Final = "SPOT_REBALANCE_ACTION"
ENV_SPOT_STATE_CHANGE_ACTION: Final = "SPOT_STATE_CHANGE_ACTION"
ENV_SPOT_CAPACITY_RESERVATION_ACTION: Final = "SPOT_CAPACITY_RESERVATION_ACTION"
ENV_SPOT_OUT_OF_SERVICE_TAINT: Final = "SPOT_OUT_OF_SERVICE_TAINT"
ENV_SPOT_LIFECYCLE_ACTION: Final = "SPOT_LIFECYCLE_ACTION"
ENV_SPOT_SCHEDULED_CHANGE_ACTION: Final = "SPOT_SCHEDULED_CHANGE_ACTION"
ENV_SPOT_LIFECYCLE_HOOK_NAME: Final = "SPOT_LIFECYCLE_HOOK_NAME"
ENV_SPOT_DEADLINE_MARGIN: Final = "SPOT_DEADLINE_MARGIN_SECONDS"
ENV_SPOT_EVICTION_CONCURRENCY: Final = "SPOT_EVICTION_CONCURRENCY"
ENV_SPOT_EARLY_REPLACEMENT: Final = "SPOT_EARLY_REPLACEMENT"
ENV_SPOT_FORCE_DELETE: Final = "SPOT_FORCE_DELETE"
ENV_SPOT_DRAIN_CONTROL_PLANE: Final = "SPOT_DRAIN_CONTROL_PLANE"
# Notifications of an interruption's outcome (off unless set; logic/spot/notify.py).
ENV_SPOT_NOTIFICATION_TOPIC_ARN: Final = "SPOT_NOTIFICATION_TOPIC_ARN"
ENV_SPOT_WEBHOOK_URL_SECRET_ARN: Final = "SPOT_WEBHOOK_URL_SECRET_ARN"
ENV_SPOT_WEBHOOK_TEMPLATE: Final = "SPOT_WEBHOOK_TEMPLATE"
# Scheduled rotation of the clusters' access keys (off unless the stack sets it; logic/access_key_rotation.py).
# The drift check: each secret kind's readers (its resource policy), as the step writing it names them.
ENV_DRIFT_SECRET_READERS_PREFIX: Final = "DRIFT_SECRET_READERS_"


def drift_secret_readers_env(kind: str) -> str:
    """`access-key` -> DRIFT_SECRET_READERS_ACCESS_KEY."""
    return ENV_DRIFT_SECRET_READERS_PREFIX + kind.upper().replace("-", "_")


ENV_ACCESS_KEY_ROTATION_DAYS: Final = "ACCESS_KEY_ROTATION_DAYS"
ENV_ACCESS_KEY_ROTATION_TOPIC_ARN: Final = "ACCESS_KEY_ROTATION_TOPIC_ARN"
# Local system only (the stack never sets it): a PEM file of extra CAs the webhook client trusts, for a test's
# own HTTPS server. Verification is never turned off.
ENV_LOCAL_WEBHOOK_CA_BUNDLE: Final = "KOPS_ONBOARD_LOCAL_WEBHOOK_CA_BUNDLE"
# The account whose events the Spot handler accepts: the stack's own (set by the stack, never read from events).
ENV_SPOT_ACCOUNT: Final = "SPOT_ACCOUNT_ID"
# How far in the future an event's time may be (clocks differ a little); beyond it the event is rejected.
SPOT_EVENT_CLOCK_SKEW_SECONDS: Final = 60

AGENT_API_KEY_SECRET_NAME: Final = f"{SECRET_PREFIX}agent-api-key"
# Onboarding warns when the kubeconfig secret's client certificate expires sooner than this (kOps admin
# certificates last 18 h by default): offboarding will need a fresh one.
ADMIN_KUBECONFIG_WARNING_SECONDS: Final = 24 * 3600


def access_key_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/access-key"


def private_key_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/ssh-private-key"


# The Spot handler's own credential for one cluster (logic/cluster/drainer.py): the only secret it may read.
DRAINER_SECRET_KIND: Final = "spot-drainer"


def drainer_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/{DRAINER_SECRET_KIND}"


# identity_mode service-account: the vendor's kubeconfig (server, CA, ServiceAccount token), beside the access key.
VENDOR_KUBECONFIG_SECRET_KIND: Final = "vendor-kubeconfig"


def vendor_kubeconfig_secret_name(cluster_name: str) -> str:
    return f"{CLUSTER_SECRET_PREFIX}{cluster_name}/{VENDOR_KUBECONFIG_SECRET_KIND}"


# ---- In-cluster objects of the MapIdentity and InstallAgent steps (logic/cluster) ----
KUBE_SYSTEM: Final = "kube-system"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
RESTARTED_AT_ANNOTATION: Final = "kops-onboard.io/restartedAt"
AUTH_CONFIG_HASH_ANNOTATION: Final = "kops-onboard.io/authenticator-config-sha256"

# aws-iam-authenticator as kOps deploys it (addon authentication.aws).
AUTHENTICATOR_DAEMONSET: Final = "aws-iam-authenticator"
AUTHENTICATOR_CONFIGMAP: Final = "aws-iam-authenticator"  # MountedFile backend, key config.yaml
AUTHENTICATOR_CONFIG_KEY: Final = "config.yaml"
AWS_AUTH_CONFIGMAP: Final = "aws-auth"  # EKSConfigMap backend, keys mapRoles / mapUsers / mapAccounts
# CRD backend: cluster-scoped IAMIdentityMapping objects (aws-iam-authenticator deploy/iamidentitymapping.yaml).
IDENTITY_MAPPING_API_VERSION: Final = "iamauthenticator.k8s.aws/v1alpha1"
IDENTITY_MAPPING_CRD: Final = "iamidentitymappings.iamauthenticator.k8s.aws"
# Our IAMIdentityMapping objects; kOps names its own iam-identity-mapping-<n>, so these never collide.
CAST_SERVICE_IDENTITY_MAPPING: Final = "kops-onboard-cast-service"
SPOT_DRAINER_IDENTITY_MAPPING: Final = "kops-onboard-spot-drainer"
# Clusters without aws-iam-authenticator: the Spot handler is this ServiceAccount (kube-system).
SPOT_DRAINER_SERVICE_ACCOUNT: Final = "kops-onboard-spot-drainer"

# Kubernetes groups our IAM principals are mapped to (never system:masters) and their RBAC.
CAST_SERVICE_GROUP: Final = "kops-onboard:cast-service"
SPOT_DRAINER_GROUP: Final = "kops-onboard:spot-drainer"
CAST_SERVICE_USERNAME_PREFIX: Final = "kops-onboard:cast:"
SPOT_DRAINER_USERNAME: Final = "kops-onboard:spot-drainer:{{SessionName}}"

# The agent, as the vendor's chart (castai/helm-charts, castai-agent) installs it for kOps.
AGENT_NAMESPACE: Final = "castai-agent"
AGENT_NAME: Final = "castai-agent"
AGENT_IMAGE: Final = "us-docker.pkg.dev/castai-hub/library/agent:v0.48.1"
AGENT_AUTOSCALER_IMAGE: Final = "registry.k8s.io/cpa/cpvpa:v0.8.4"
AGENT_API_URL_DEFAULT: Final = "https://api.cast.ai"
ENV_AGENT_API_URL: Final = "AGENT_API_URL"

KUBE_ROUTER_DAEMONSET: Final = "kube-router"


# ---- Rollback and offboarding ----
# Registry items holding a rollback baseline: key prefix, and the TTL attribute that expires them.
BASELINE_KEY_PREFIX: Final = "rollback-baseline#"
REGISTRY_TTL_ATTRIBUTE: Final = "expiration"
BASELINE_TTL_SECONDS: Final = 7 * 24 * 3600
# Registry statuses.
STATUS_ONBOARDING: Final = "ONBOARDING"
STATUS_ONBOARDED: Final = "ONBOARDED"
STATUS_OFFBOARDED: Final = "OFFBOARDED"
# Secrets Manager accepts a recovery window of 7 to 30 days; 0 means ForceDeleteWithoutRecovery.
SECRET_RECOVERY_DAYS_DEFAULT: Final = 7

# ---- One workflow per cluster at a time ----
# Both state machines time out after this; a lease outlives it, so only a crashed holder's lease expires.
WORKFLOW_TIMEOUT_MINUTES: Final = 30
LEASE_KEY_PREFIX: Final = "lease#"
LEASE_SECONDS: Final = (WORKFLOW_TIMEOUT_MINUTES + 5) * 60
# The scheduled access-key rotation holds a cluster's lease while it rotates that cluster's key (seconds).
ROTATION_LEASE_SECONDS: Final = 5 * 60
# Marker held while one invocation creates a one-of-a-kind entity (longer than a step's Lambda timeout).
CREATION_MARKER_PREFIX: Final = "creating#"
CREATION_MARKER_SECONDS: Final = 5 * 60
# Step Functions' own events: an onboarding execution stopped or timed out is compensated from its baseline.
SFN_EVENT_SOURCE: Final = "aws.states"
SFN_STATUS_CHANGE_DETAIL_TYPE: Final = "Step Functions Execution Status Change"
UNFINISHED_STATUSES: Final = ("ABORTED", "TIMED_OUT")
