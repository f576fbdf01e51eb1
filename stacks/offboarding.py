"""Removing what onboarding made: the offboarding workflow, built of the cleanup functions (stacks/cleanup.py).

Offboarding, for one cluster: FindCluster (unknown → ClusterNotFound) → RemoveDrainerCredential →
RemoveIdentityMapping → RemoveAgent → RemoveAccessKey → RemoveKeyPair → RemoveIamUser →
RemoveSharedIamEntities (only once no other cluster uses them) → RecordOffboarded (an OFFBOARDED tombstone) →
Offboarded. Every step is idempotent, so a partly offboarded cluster, or one offboarded already, offboards
again without error.
Each step retries throttling, IAM's eventual consistency and Lambda service errors by name, with jitter;
anything else ends in OffboardingFailed with the step's error and cause.
"""

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from kops_lambda.workflow import OFFBOARDING
from stacks.cleanup import CleanupFunctions
from stacks.constructs.workflow import logged_state_machine


class OffboardingWorkflow(Construct):
    """The offboarding state machine (same type, logging and tracing as onboarding)."""

    def __init__(self, scope: Construct, construct_id: str, *, cleanup: CleanupFunctions) -> None:
        super().__init__(scope, construct_id)
        failed = sfn.Fail(
            self,
            "OffboardingFailed",
            comment="A step failed; every step is idempotent, so a rerun continues where this one stopped",
            error_path="$.error.Error",
            cause_path="$.error.Cause",
        )
        start = sfn.Pass(self, "Start", parameters={"input.$": "$"}, comment="Keep the input under $.input")
        chain: sfn.INextable = start
        for state in OFFBOARDING:
            task = cleanup.task(self, state)
            task.add_catch(failed, errors=["States.ALL"], result_path="$.error")
            chain.next(task)
            chain = task
        chain.next(sfn.Succeed(self, "Offboarded"))

        self.log_group, self.state_machine = logged_state_machine(self, start)
