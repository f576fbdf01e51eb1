"""The cleanup functions: one per resource group, each allowed to delete only its group's entities, shared by
the onboarding workflow's compensation states and by offboarding."""

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kops_lambda.constants import (
    CLUSTER_SECRET_PREFIX,
    DRAINER_SECRET_KIND,
    ENV_REGISTRY_TABLE,
    ENV_SPOT_HANDLER_ROLE_ARN,
    IAM_USER_PREFIX,
    PRODUCT,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    VENDOR_KUBECONFIG_SECRET_KIND,
)
from kops_lambda.errors import IAM_CLEANUP_TRANSIENT_ERROR_NAMES
from kops_lambda.logic import policies
from kops_lambda.workflow import CLEANUP_GROUPS, CleanupState
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import (
    arn,
    describe_key_pairs,
    grant_cluster_access,
    grant_lease_takeover,
    lambda_task,
)
from stacks.network import ClusterNetwork


class CleanupFunctions(Construct):
    """One Lambda function per resource group, each allowed to delete only its group's entities."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        secrets_key: kms.IKey,
        spot_handler_role_arn: str,
        cluster_regions: Sequence[str],
        network: ClusterNetwork | None = None,
    ) -> None:
        """`cluster_regions`: where clusters may be (the Spot regions); a key pair is in its cluster's."""
        super().__init__(scope, construct_id)
        self.cluster_regions = tuple(cluster_regions)
        self.functions: dict[str, lambda_.Function] = {}
        # One function per group: each role holds only its group's delete actions.
        self.groups = {group.name: group for group in CLEANUP_GROUPS}
        for group in CLEANUP_GROUPS:
            step = KopsFunction(
                self,
                f"{group.name}Function",
                handler=group.handler,
                description=f"{PRODUCT} {group.description or f'rollback and offboarding of {group.name}'}",
                code=code,
                environment={ENV_REGISTRY_TABLE: registry.table_name},
                timeout=Duration.seconds(120),
                network=network if group.cluster else None,
            )
            self.functions[group.name] = step.function
        registry.grant_read_write_data(self.functions["Registry"])
        grant_lease_takeover(self, self.functions["Registry"])  # FindCluster
        for name in ("IamEntities", "KeyPair", "AccessKey", "IdentityMapping", "DrainerCredential", "Agent"):
            # Rollback reads its baseline, offboarding counts the other clusters.
            registry.grant_read_data(self.functions[name])
        self._grant_iam(self.functions["IamEntities"])
        self._grant_key_pair(self.functions["KeyPair"])
        self._grant_access_key(self.functions["AccessKey"])
        self.functions["IdentityMapping"].add_environment(ENV_SPOT_HANDLER_ROLE_ARN, spot_handler_role_arn)
        self._grant_secret_removal(self.functions["DrainerCredential"], DRAINER_SECRET_KIND)
        # MapIdentity's vendor kubeconfig (identity_mode service-account) goes with what MapIdentity made.
        self._grant_secret_removal(self.functions["IdentityMapping"], VENDOR_KUBECONFIG_SECRET_KIND)
        for group in CLEANUP_GROUPS:
            if group.cluster:
                grant_cluster_access(self, self.functions[group.name], secrets_key)

    def grant_in_flight_reading(self, state_machine: sfn.StateMachine, functions: Sequence[lambda_.IFunction]) -> None:
        """The InFlight function reads the history of `state_machine`'s executions (never their data) and
        the configuration (the timeout) of the `functions` its tasks invoke."""
        function = self.functions["InFlight"]
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadStoppedExecutionHistory",
                actions=["states:GetExecutionHistory"],
                resources=[
                    arn(
                        self,
                        "states",
                        "execution",
                        f"{state_machine.state_machine_name}:*",
                        ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadStepFunctionTimeouts",
                actions=["lambda:GetFunctionConfiguration"],
                resources=[step.function_arn for step in functions],
            )
        )

    def task(
        self, scope: Construct, state: CleanupState, *, execution_id: str = sfn.JsonPath.execution_id
    ) -> tasks.LambdaInvoke:
        """The workflow state `state` (kops_lambda/workflow.py), without its Catch; `execution_id` is the
        execution it cleans up after (this one, unless it compensates another)."""
        return lambda_task(
            scope,
            state.state,
            self.functions[state.group],
            payload={"action": state.action},
            result_path=state.result_path or sfn.JsonPath.DISCARD,
            transient_errors=IAM_CLEANUP_TRANSIENT_ERROR_NAMES if self.groups[state.group].iam else (),
            execution_id=execution_id,
        )

    def _grant_iam(self, function: lambda_.IFunction) -> None:
        statements = [
            iam.PolicyStatement(
                sid="RemoveClusterUsers",
                actions=[
                    "iam:GetUser",
                    "iam:ListUserTags",
                    "iam:ListAttachedUserPolicies",
                    "iam:DetachUserPolicy",
                    "iam:ListUserPolicies",
                    "iam:GetUserPolicy",
                    "iam:PutUserPolicy",  # rollback puts back an inline policy this execution changed
                    "iam:DeleteUserPolicy",
                    "iam:ListAccessKeys",
                    "iam:DeleteAccessKey",
                    "iam:DeleteUser",
                    "iam:UntagUser",  # an adopted user stays, without our tags
                ],
                resources=[arn(self, "iam", "user", f"{IAM_USER_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="RemoveOnlyOurPolicies",
                actions=[
                    "iam:GetPolicy",
                    "iam:ListPolicyTags",
                    "iam:ListPolicyVersions",
                    "iam:ListEntitiesForPolicy",
                    "iam:SetDefaultPolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:UntagPolicy",
                ],
                resources=[
                    arn(self, "iam", "policy", SHARED_POLICY_NAME),
                    arn(self, "iam", "policy", policies.BOUNDARY_POLICY_NAME),
                    arn(self, "iam", "policy", policies.CLUSTER_POLICY_PATTERN),
                ],
            ),
            iam.PolicyStatement(
                sid="FindClusterPolicies",
                actions=["iam:ListPolicies"],
                resources=["*"],  # ListPolicies supports no resource-level permissions.
            ),
            iam.PolicyStatement(
                sid="RemoveOnlyTheSpotRole",
                actions=[
                    "iam:GetRole",
                    "iam:ListRoleTags",
                    "iam:ListAttachedRolePolicies",
                    "iam:DetachRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:DeleteRolePolicy",
                    "iam:DeleteRole",
                    "iam:UntagRole",
                ],
                resources=[arn(self, "iam", "role", SPOT_ROLE_NAME)],
            ),
            iam.PolicyStatement(
                # Offboarding an adopted role gives back the seed's policies adoption took off.
                sid="ReattachTheSeedPoliciesToTheSpotRole",
                actions=["iam:AttachRolePolicy"],
                resources=[arn(self, "iam", "role", SPOT_ROLE_NAME)],
                conditions={
                    "ArnEquals": {
                        "iam:PolicyARN": [
                            policies.managed_policy_arn(Stack.of(self).partition, name)
                            for name in policies.SEED_SPOT_ROLE_POLICIES
                        ]
                    }
                },
            ),
        ]
        for statement in statements:
            function.add_to_role_policy(statement)

    def _secrets(self, kind: str) -> str:
        """Secrets of one kind of every cluster: `kops-onboard/clusters/<cluster>/<kind>` (+ the random
        suffix Secrets Manager appends), never the customer's kubeconfig secrets under the same prefix."""
        return arn(
            self, "secretsmanager", "secret", f"{CLUSTER_SECRET_PREFIX}*/{kind}-*", ArnFormat.COLON_RESOURCE_NAME
        )

    def _grant_secret_removal(self, function: lambda_.IFunction, kind: str) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RemoveClusterSecrets",
                actions=[
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:UpdateSecretVersionStage",  # rollback: the previous value current again
                ],
                resources=[self._secrets(kind)],
            )
        )

    def _grant_key_pair(self, function: lambda_.IFunction) -> None:
        function.add_to_role_policy(describe_key_pairs())
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RemoveClusterKeyPairs",
                actions=["ec2:DeleteKeyPair"],
                resources=[arn(self, "ec2", "key-pair", f"{IAM_USER_PREFIX}*", region=r) for r in self.cluster_regions],
            )
        )
        self._grant_secret_removal(function, "ssh-private-key")

    def _grant_access_key(self, function: lambda_.IFunction) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RemoveClusterUserAccessKeys",
                actions=[
                    "iam:GetUser",
                    "iam:ListUserTags",
                    "iam:ListAttachedUserPolicies",
                    "iam:ListUserPolicies",
                    "iam:GetUserPolicy",
                    "iam:ListAccessKeys",
                    "iam:DeleteAccessKey",
                ],
                resources=[arn(self, "iam", "user", f"{IAM_USER_PREFIX}*")],
            )
        )
        self._grant_secret_removal(function, "access-key")
