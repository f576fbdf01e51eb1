"""Typed errors. Their class names are the error names that Step Functions Retry/Catch match on."""


class KopsOnboardError(Exception):
    """Base of every error we raise on purpose. Messages never carry secret values."""


class RetryableError(KopsOnboardError):
    """A temporary condition (throttling, conflict, API server busy); the workflow retries it."""


class AwsThrottled(RetryableError):
    """AWS answered with a throttling error."""


class KubeApiUnavailable(RetryableError):
    """The cluster's API server did not answer, or answered 429/5xx."""


class ServiceAccountTokenPending(RetryableError):
    """A ServiceAccount token Secret we created is still empty: the cluster's token controller has not filled
    it yet; a retry finds it filled."""


class CreationInProgress(RetryableError):
    """Another invocation is creating the same one-of-a-kind entity (access key, key pair) right now; a
    retry finds it made and reuses it."""


class InvalidInput(KopsOnboardError):
    """The execution input or an event does not match its model."""


class ClusterNotFound(KopsOnboardError):
    """No kOps cluster with that name exists in the account and region."""


class RegionNotCovered(KopsOnboardError):
    """The cluster is in a region the deployment's Spot rules do not cover (context spotRegions): its Spot
    interruptions would never reach the handler. Nothing is created."""


class UnsupportedKopsVersion(KopsOnboardError):
    """The cluster runs a kOps version outside the supported list."""


class KopsVersionUnknown(KopsOnboardError):
    """Neither the state store nor the launch user data reveal the kOps version."""


class ClusterAccessError(KopsOnboardError):
    """The cluster's access secret is missing or malformed, or the API server refused us."""


class UnsafeKubeconfig(ClusterAccessError):
    """The kubeconfig asks for something we never do with one: run a command (`exec`, `auth-provider`), read a
    file (a path field), skip TLS verification, or trust an https server without a CA. The message names the
    field and the entry, never a value."""


class KubeconfigExpired(ClusterAccessError):
    """The kubeconfig's client certificate is past its notAfter (kOps admin certificates last 18 h by default)."""


RETRYABLE_ERROR_NAMES: tuple[str, ...] = (
    RetryableError.__name__,
    AwsThrottled.__name__,
    KubeApiUnavailable.__name__,
    CreationInProgress.__name__,
    ServiceAccountTokenPending.__name__,
)


class ForeignEntity(KopsOnboardError):
    """An entity with the name we would use exists and is not ours: we never take it over silently."""


class PolicyQuotaExceeded(KopsOnboardError):
    """A policy document, or the user's attached policies, would exceed an IAM quota AWS enforces."""


class KeyPairWithoutSecret(KopsOnboardError):
    """The cluster's EC2 key pair exists but its private key is not in our secret."""


class AccessKeyLimit(KopsOnboardError):
    """The user already has IAM's maximum of 2 access keys and none of them is ours to replace."""


class AuthenticationNotEnabled(KopsOnboardError):
    """The cluster runs no aws-iam-authenticator: IAM identities cannot be mapped into it."""


class UnsupportedAuthBackend(KopsOnboardError):
    """The authenticator only uses a backend we do not write to (DynamicFile: a file on the masters)."""


class IdentityMappingCrdMissing(KopsOnboardError):
    """The authenticator's backend mode is CRD but the cluster does not serve the IAMIdentityMapping CRD."""


class ConflictingIdentityMapping(KopsOnboardError):
    """An IAMIdentityMapping that is not ours maps one of our ARNs: the authenticator would pick either."""


class MalformedAuthConfig(KopsOnboardError):
    """The identity mapping data in the cluster does not parse; we write nothing rather than guess."""


class KubeRequestRejected(KopsOnboardError):
    """The API server rejected a request for a reason retrying will not fix (400, 404, 422, ...)."""


class AgentApiKeyMissing(KopsOnboardError):
    """The agent's API key secret cannot be read or is empty."""


class InvalidSettings(KopsOnboardError):
    """The function's environment holds a setting outside its documented values."""


# ---- Rollback and offboarding ----


class RollbackFailed(KopsOnboardError):
    """Compensating a failed onboarding could not finish (the Fail state's error; the cause names the
    original error and the one that stopped the rollback). A rerun of the onboarding converges."""


# IAM is eventually consistent: right after CreateUser/CreatePolicy/CreateRole, other calls can answer
# NoSuchEntity, and a detach can leave DeleteUser/DeleteRole/DeletePolicy in DeleteConflict for a moment.
# The workflows retry these by name (botocore's exception class names, which become the Lambda's
# errorType), with jitter, instead of sleeping in code.
IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES: tuple[str, ...] = (
    "NoSuchEntityException",
    "EntityTemporarilyUnmodifiableException",
    "ConcurrentModificationException",
)
IAM_CLEANUP_TRANSIENT_ERROR_NAMES: tuple[str, ...] = (*IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES, "DeleteConflictException")


class ClusterMismatch(KopsOnboardError):
    """The API server behind the kubeconfig secret is not the named cluster's: its nodes are not instances
    tagged for that cluster in this account and region. Nothing is written."""


# ---- One workflow per cluster ----


class ClusterBusy(KopsOnboardError):
    """Another onboarding or offboarding execution of the same cluster is running (the message names it);
    not retried: start again once it has finished."""
