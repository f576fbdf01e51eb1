"""The workflows' shape, written once: every state of onboarding, its compensation chain and offboarding,
with the function that runs it, where its result lands in the execution state and what undoes it.

The stacks build the state machines from these tables (stacks/onboarding.py, offboarding.py, compensation.py,
cleanup.py), the handlers and the CLI read the result keys from them. Imported by the CDK app and the CLI:
nothing here imports boto3 or the Kubernetes client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kops_lambda.models.rollback import CleanupAction

# Where the state machines keep things in the execution state ($.<key>).
INPUT_KEY: Final = "input"  # the execution's input (the Start state moves it there)
ROLLBACK_KEY: Final = "rollback"  # the compensation results, one per rollback state: $.rollback.<key>


class ResultKey:
    """The keys under which the steps' results land: $.<key> (onboarding, offboarding), $.rollback.<key>
    (compensation). The registry's `resources` map uses the same keys for what a step created."""

    BASELINE: Final = "baseline"
    CLUSTER: Final = "cluster"
    IAM: Final = "iam"
    KEY_PAIR: Final = "key_pair"
    IDENTITY_MAPPING: Final = "identity_mapping"
    DRAINER: Final = "drainer"
    AGENT: Final = "agent"
    ACCESS_KEY: Final = "access_key"
    REGISTRY: Final = "registry"
    IAM_USER: Final = "iam_user"
    SHARED_IAM: Final = "shared_iam"
    IN_FLIGHT: Final = "in_flight"


def _handler(module: str) -> str:
    return f"kops_lambda.handlers.{module}.handler"


@dataclass(frozen=True)
class CleanupGroup:
    """One cleanup function: it may delete only its group's entities, for every state of the group."""

    name: str
    handler: str
    # It calls IAM: it also retries IAM's transient errors (eventual consistency, DeleteConflict).
    iam: bool = False
    # It removes objects in the cluster (through its API server): in the clusters' VPC when one is configured.
    cluster: bool = False
    description: str | None = None


@dataclass(frozen=True)
class CleanupState:
    """A state run by a cleanup function: its group does `action`; its result lands at `result_key`
    ($.rollback.<key> for a compensation), None: dropped."""

    state: str
    group: str
    action: CleanupAction
    result_key: str | None

    @property
    def result_path(self) -> str | None:
        """The state's ResultPath; None: its result is dropped."""
        if self.result_key is None:
            return None
        return f"$.{ROLLBACK_KEY}.{self.result_key}" if self.action == "rollback" else f"$.{self.result_key}"


@dataclass(frozen=True)
class OnboardingStep:
    """An onboarding state: one Lambda function of its own; its result at $.<result_key>; a failure enters
    the compensation chain at `compensation` (which undoes this step, then every earlier one)."""

    state: str
    handler: str
    result_key: str
    compensation: str
    # It connects to the cluster's API server: in the clusters' VPC when one is configured (stacks/network.py).
    cluster: bool = False
    # It calls IAM right after creating what it calls it on (eventual consistency): retried by name.
    iam: bool = False


CLEANUP_GROUPS: Final = (
    CleanupGroup("Registry", _handler("cleanup_registry")),
    CleanupGroup("IamEntities", _handler("cleanup_iam"), iam=True),
    CleanupGroup("KeyPair", _handler("cleanup_key_pair")),
    CleanupGroup("AccessKey", _handler("cleanup_access_key"), iam=True),
    CleanupGroup("IdentityMapping", _handler("cleanup_identity_mapping"), cluster=True),
    CleanupGroup("DrainerCredential", _handler("cleanup_drainer"), cluster=True),
    CleanupGroup("Agent", _handler("cleanup_agent"), cluster=True),
    # Reads a stopped execution's history only: compensation waits for the step it was in (stacks/compensation.py).
    CleanupGroup(
        "InFlight",
        _handler("cleanup_in_flight"),
        description="compensation: the step a stopped onboarding was in, and how long it may run",
    ),
)

# The compensation chain, in the order it runs (reverse of onboarding), down to OnboardingFailed.
ROLLBACK: Final = (
    CleanupState("RollbackAccessKey", "AccessKey", "rollback", ResultKey.ACCESS_KEY),
    CleanupState("RollbackAgent", "Agent", "rollback", ResultKey.AGENT),
    CleanupState("RollbackDrainerCredential", "DrainerCredential", "rollback", ResultKey.DRAINER),
    CleanupState("RollbackIdentityMapping", "IdentityMapping", "rollback", ResultKey.IDENTITY_MAPPING),
    CleanupState("RollbackKeyPair", "KeyPair", "rollback", ResultKey.KEY_PAIR),
    CleanupState("RollbackIamEntities", "IamEntities", "rollback", ResultKey.IAM),
    CleanupState("RollbackRegistry", "Registry", "rollback", ResultKey.REGISTRY),
)
_UNDO = {state.result_key: state.state for state in ROLLBACK}

# The first onboarding state: takes the cluster's lease and snapshots what exists before anything is created.
RECORD_BASELINE: Final = OnboardingStep(
    "RecordBaseline", _handler("record_baseline"), ResultKey.BASELINE, _UNDO[ResultKey.REGISTRY], cluster=True
)
# Onboarding, after RecordBaseline, in order.
ONBOARDING: Final = (
    OnboardingStep(
        "ValidateCluster", _handler("validate_cluster"), ResultKey.CLUSTER, _UNDO[ResultKey.REGISTRY], cluster=True
    ),
    OnboardingStep("CreateIamEntities", _handler("create_iam_entities"), ResultKey.IAM, _UNDO[ResultKey.IAM], iam=True),
    OnboardingStep("CreateKeyPair", _handler("create_key_pair"), ResultKey.KEY_PAIR, _UNDO[ResultKey.KEY_PAIR]),
    OnboardingStep(
        "MapIdentity",
        _handler("map_identity"),
        ResultKey.IDENTITY_MAPPING,
        _UNDO[ResultKey.IDENTITY_MAPPING],
        cluster=True,
    ),
    OnboardingStep(
        "IssueDrainerCredential",
        _handler("issue_drainer_credential"),
        ResultKey.DRAINER,
        _UNDO[ResultKey.DRAINER],
        cluster=True,
    ),
    OnboardingStep("InstallAgent", _handler("install_agent"), ResultKey.AGENT, _UNDO[ResultKey.AGENT], cluster=True),
    OnboardingStep(
        "StoreAccessKey", _handler("store_access_key"), ResultKey.ACCESS_KEY, _UNDO[ResultKey.ACCESS_KEY], iam=True
    ),
    # The registry's ONBOARDED mark is the last thing made: a failure there undoes from the access key down.
    OnboardingStep("RecordOnboarded", _handler("record_onboarded"), ResultKey.REGISTRY, _UNDO[ResultKey.ACCESS_KEY]),
)
# After RecordOnboarded: the baseline is no longer needed (a failure here leaves it to the TTL, and the
# onboarding stands).
DISCARD_BASELINE: Final = CleanupState("DiscardBaseline", "Registry", "discard", None)
# `plan_only: true`: the state right after Start, instead of onboarding; its result is the execution's output,
# and it has nothing to undo.
PLAN_STATE: Final = "PlanOnboarding"
PLAN_HANDLER: Final = _handler("plan_onboarding")

OFFBOARDING: Final = (
    CleanupState("FindCluster", "Registry", "find", ResultKey.CLUSTER),
    CleanupState("RemoveDrainerCredential", "DrainerCredential", "offboard", ResultKey.DRAINER),
    CleanupState("RemoveIdentityMapping", "IdentityMapping", "offboard", ResultKey.IDENTITY_MAPPING),
    CleanupState("RemoveAgent", "Agent", "offboard", ResultKey.AGENT),
    CleanupState("RemoveAccessKey", "AccessKey", "offboard", ResultKey.ACCESS_KEY),
    CleanupState("RemoveKeyPair", "KeyPair", "offboard", ResultKey.KEY_PAIR),
    CleanupState("RemoveIamUser", "IamEntities", "offboard", ResultKey.IAM_USER),
    CleanupState("RemoveSharedIamEntities", "IamEntities", "offboard-shared", ResultKey.SHARED_IAM),
    CleanupState("RecordOffboarded", "Registry", "offboard", ResultKey.REGISTRY),
)
# Compensation of a stopped onboarding: first the step still in flight in its history (stacks/compensation.py).
FIND_STEP_IN_FLIGHT: Final = CleanupState("FindStepInFlight", "InFlight", "in-flight", ResultKey.IN_FLIGHT)

CLEANUP_STATES: Final = {s.state: s for s in (*ROLLBACK, DISCARD_BASELINE, *OFFBOARDING, FIND_STEP_IN_FLIGHT)}
# The groups the onboarding state machine invokes (its rollback chain, DiscardBaseline).
ONBOARDING_CLEANUP_GROUPS: Final = tuple(dict.fromkeys(s.group for s in (*ROLLBACK, DISCARD_BASELINE)))

# Views by state name, for tests and the stacks' grants.
ONBOARDING_STATES: Final = (RECORD_BASELINE.state, *(step.state for step in ONBOARDING))
ROLLBACK_ENTRY: Final = {step.state: step.compensation for step in (RECORD_BASELINE, *ONBOARDING)}
