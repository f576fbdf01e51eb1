"""The onboarding workflow: one Lambda task per step, each with named retries and a catch that leads to
compensation.

RecordBaseline snapshots what exists before anything is created; a failing step's Catch enters the
compensation chain at the state that undoes that step, and the chain runs down, in reverse order of
onboarding, to RollbackRegistry, then to OnboardingFailed, whose error is the original one and whose cause
is the original cause followed by the rollback summary. A compensation that still fails after its
retries ends in RollbackFailed (the original error and the one that stopped the rollback in the cause).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kops_lambda.constants import (
    AGENT_API_KEY_SECRET_NAME,
    CLUSTER_SECRET_PREFIX,
    DRAINER_SECRET_KIND,
    ENV_AGENT_API_URL,
    ENV_REGISTRY_TABLE,
    ENV_SECRET_READER_ARNS,
    ENV_SECRETS_KMS_KEY,
    ENV_SEED_SPOT_ROLE_POLICIES,
    ENV_SPOT_FORCE_DELETE,
    ENV_SPOT_HANDLER_ROLE_ARN,
    IAM_USER_PREFIX,
    PRODUCT,
    SHARED_POLICY_NAME,
    SPOT_ROLE_NAME,
    VENDOR_KUBECONFIG_SECRET_KIND,
)
from kops_lambda.errors import IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES, RollbackFailed
from kops_lambda.logic import policies
from kops_lambda.workflow import (
    DISCARD_BASELINE,
    ONBOARDING,
    PLAN_HANDLER,
    PLAN_STATE,
    RECORD_BASELINE,
    ROLLBACK,
    OnboardingStep,
)
from stacks.cleanup import CleanupFunctions
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import (
    arn,
    describe_key_pairs,
    drainer_secrets,
    grant_cluster_access,
    grant_lease_takeover,
    lambda_task,
    logged_state_machine,
)
from stacks.context import context_list
from stacks.network import ClusterNetwork

# The plan connects to the cluster too (in the clusters' VPC when one is configured), like the steps marked so.
CLUSTER_STATES = frozenset({*(step.state for step in (RECORD_BASELINE, *ONBOARDING) if step.cluster), PLAN_STATE})
HANDLERS = {**{step.state: step.handler for step in (RECORD_BASELINE, *ONBOARDING)}, PLAN_STATE: PLAN_HANDLER}


class OnboardingWorkflow(Construct):
    """State machine and step functions of credential onboarding."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        secrets_key: kms.IKey,
        state_store_bucket_arns: Sequence[str],
        spot_handler_role_arn: str,
        spot_force_delete: bool,
        agent_api_url: str,
        cleanup: CleanupFunctions,
        cluster_regions: Sequence[str],
        network: ClusterNetwork | None = None,
        access_key_readers: Sequence[str] = (),
    ) -> None:
        """`cluster_regions`: where clusters may be (the Spot regions); key pairs are made in the cluster's.
        `access_key_readers`: principals of the stack, besides the step, that read the stored access keys."""
        super().__init__(scope, construct_id)
        environment = {ENV_REGISTRY_TABLE: registry.table_name, ENV_SECRETS_KMS_KEY: secrets_key.key_arn}
        self.functions: dict[str, lambda_.Function] = {}
        # Secret kind -> who its resource policy lets read it (the drift check compares the policies with these).
        self.secret_readers: dict[str, list[str]] = {DRAINER_SECRET_KIND: [spot_handler_role_arn]}
        for state_name, handler in HANDLERS.items():
            step = KopsFunction(
                self,
                f"{state_name}Function",
                handler=handler,
                description=f"{PRODUCT} onboarding step {state_name}",
                code=code,
                environment=environment,
                network=network if state_name in CLUSTER_STATES else None,
            )
            self.functions[state_name] = step.function

        validate = self.functions["ValidateCluster"]
        self._grant_discovery(validate, state_store_bucket_arns)
        self._grant_checks_before_building(validate)
        for state_name, function in self.functions.items():
            if state_name == PLAN_STATE:
                registry.grant_read_data(function)  # the plan writes nothing
            else:
                registry.grant_read_write_data(function)
        self._configure_plan(
            self.functions[PLAN_STATE],
            secrets_key,
            state_store_bucket_arns,
            spot_handler_role_arn=spot_handler_role_arn,
            spot_force_delete=spot_force_delete,
        )
        self._grant_iam_entities(self.functions["CreateIamEntities"])
        seed_spot_role_policies = str(self.node.try_get_context("seedSpotRolePolicies") or "false").lower() == "true"
        for state_name in ("CreateIamEntities", PLAN_STATE):
            self.functions[state_name].add_environment(
                ENV_SEED_SPOT_ROLE_POLICIES, str(seed_spot_role_policies).lower()
            )
        self._grant_key_pair(self.functions["CreateKeyPair"], secrets_key, cluster_regions)
        self._grant_access_key(self.functions["StoreAccessKey"], secrets_key, access_key_readers)
        map_identity, install_agent = self.functions["MapIdentity"], self.functions["InstallAgent"]
        map_identity.add_environment(ENV_SPOT_HANDLER_ROLE_ARN, spot_handler_role_arn)
        map_identity.add_environment(ENV_SPOT_FORCE_DELETE, str(spot_force_delete).lower())
        # identity_mode service-account: the vendor's kubeconfig, and no other secret.
        self._grant_cluster_secrets(map_identity, secrets_key, names=f"*/{VENDOR_KUBECONFIG_SECRET_KIND}-*")
        for function in (install_agent, self.functions[PLAN_STATE]):
            function.add_environment(ENV_AGENT_API_URL, agent_api_url)
        drainer = self.functions["IssueDrainerCredential"]
        self._configure_drainer_step(drainer, secrets_key, spot_handler_role_arn, spot_force_delete)
        baseline = self.functions["RecordBaseline"]
        for function in (map_identity, drainer, install_agent, baseline, validate):
            grant_cluster_access(self, function, secrets_key)
        self._grant_baseline(baseline)
        grant_lease_takeover(self, baseline)
        map_identity.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadKopsSpec",
                actions=["s3:GetObject"],
                resources=[f"{arn}/*/config" for arn in state_store_bucket_arns],
                conditions={"StringEquals": {"s3:ResourceAccount": Stack.of(self).account}},
            )
        )
        install_agent.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadAgentApiKey",
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    self._arn(
                        "secretsmanager", "secret", f"{AGENT_API_KEY_SECRET_NAME}-*", ArnFormat.COLON_RESOURCE_NAME
                    )
                ],
            )
        )

        self.log_group, self.state_machine = logged_state_machine(self, self._definition(cleanup))

    def _definition(self, cleanup: CleanupFunctions) -> sfn.IChainable:
        failed = sfn.Fail(
            self,
            "OnboardingFailed",
            comment="A step failed and what it had made is rolled back: its error, its cause and the rollback summary",
            error_path="$.error.Error",
            cause_path="States.Format('{} (rollback: {})', $.error.Cause, States.JsonToString($.rollback))",
        )
        rollback_failed = sfn.Fail(
            self,
            RollbackFailed.__name__,
            comment="A compensation still failed after its retries; rerun the onboarding, it converges",
            error=RollbackFailed.__name__,
            cause_path=(
                "States.Format('onboarding failed with {}: {}; the rollback stopped on {}: {}', "
                "$.error.Error, $.error.Cause, $.rollback_error.Error, $.rollback_error.Cause)"
            ),
        )
        # The compensation chain, built from its end: RollbackRegistry -> OnboardingFailed.
        undo: dict[str, sfn.IChainable] = {}
        following: sfn.IChainable = failed
        for state in reversed(ROLLBACK):
            compensation = cleanup.task(self, state)
            compensation.add_catch(rollback_failed, errors=["States.ALL"], result_path="$.rollback_error")
            compensation.next(following)
            undo[state.state] = compensation
            following = compensation

        start = sfn.Pass(self, "Start", parameters={"input.$": "$"}, comment="Keep the input under $.input")
        definition: sfn.IChainable = start
        # plan_only: validate and plan, before the lease and the baseline; the plan is the output, nothing written.
        plan = lambda_task(self, PLAN_STATE, self.functions[PLAN_STATE], payload={}, result_path="$")
        plan.next(sfn.Succeed(self, "Planned", comment="The plan of an onboarding with this input"))
        plan_only = sfn.Condition.and_(
            sfn.Condition.is_present("$.input.plan_only"), sfn.Condition.boolean_equals("$.input.plan_only", True)
        )
        choose = sfn.Choice(self, "PlanOnly", comment="plan_only: true plans instead of onboarding")
        start.next(choose)
        steps = [self._step(step, undo[step.compensation]) for step in (RECORD_BASELINE, *ONBOARDING)]
        choose.when(plan_only, plan).otherwise(steps[0])
        for step, following_step in itertools.pairwise(steps):
            step.next(following_step)
        onboarded = sfn.Succeed(self, "Onboarded")
        # Onboarded either way: a baseline that stays behind expires by the registry's TTL.
        discard = cleanup.task(self, DISCARD_BASELINE)
        discard.add_catch(onboarded, errors=["States.ALL"], result_path="$.baseline_discard_error")
        steps[-1].next(discard)
        discard.next(onboarded)

        return definition

    def _arn(self, service: str, resource: str, name: str, fmt: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME) -> str:
        return arn(self, service, resource, name, fmt)

    def _grant_discovery(self, function: lambda_.IFunction, state_store_bucket_arns: Sequence[str]) -> None:
        for statement in discovery_statements(self, state_store_bucket_arns):
            function.add_to_role_policy(statement)

    def _configure_plan(
        self,
        function: lambda_.Function,
        secrets_key: kms.IKey,
        state_store_bucket_arns: Sequence[str],
        *,
        spot_handler_role_arn: str,
        spot_force_delete: bool,
    ) -> None:
        """Read-only, like validation's: what validation reads, then names, tags, attachments and documents of
        exactly what onboarding may create, key pairs, and secrets described (never a value but the
        kubeconfig's, as every cluster step)."""
        function.add_environment(ENV_SPOT_HANDLER_ROLE_ARN, spot_handler_role_arn)
        function.add_environment(ENV_SPOT_FORCE_DELETE, str(spot_force_delete).lower())
        self._grant_discovery(function, state_store_bucket_arns)
        grant_cluster_access(self, function, secrets_key)
        for statement in plan_statements(self):
            function.add_to_role_policy(statement)

    def _grant_baseline(self, function: lambda_.IFunction) -> None:
        """Read-only, on exactly what onboarding may create: the snapshot rollback compares against."""
        statements = [
            iam.PolicyStatement(
                sid="ReadClusterUsers",
                actions=[
                    "iam:GetUser",
                    "iam:ListUserTags",
                    "iam:ListAttachedUserPolicies",
                    "iam:ListUserPolicies",
                    "iam:GetUserPolicy",
                    "iam:ListAccessKeys",
                ],
                resources=[self._arn("iam", "user", f"{IAM_USER_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ReadOurPolicies",
                actions=["iam:GetPolicy", "iam:ListPolicyVersions"],
                resources=[
                    self._arn("iam", "policy", SHARED_POLICY_NAME),
                    self._arn("iam", "policy", policies.BOUNDARY_POLICY_NAME),
                    self._arn("iam", "policy", policies.CLUSTER_POLICY_PATTERN),
                ],
            ),
            iam.PolicyStatement(
                sid="FindClusterPolicies",
                actions=["iam:ListPolicies"],
                resources=["*"],  # ListPolicies supports no resource-level permissions.
            ),
            iam.PolicyStatement(
                sid="ReadSpotRole",
                actions=["iam:GetRole", "iam:ListRoleTags", "iam:ListAttachedRolePolicies"],
                resources=[self._arn("iam", "role", SPOT_ROLE_NAME)],
            ),
            describe_key_pairs(),
            iam.PolicyStatement(
                sid="DescribeClusterSecrets",
                actions=["secretsmanager:DescribeSecret"],
                resources=[
                    self._arn("secretsmanager", "secret", f"{CLUSTER_SECRET_PREFIX}*", ArnFormat.COLON_RESOURCE_NAME)
                ],
            ),
        ]
        for statement in statements:
            function.add_to_role_policy(statement)

    def _grant_checks_before_building(self, function: lambda_.IFunction) -> None:
        """Read-only: whether what later steps create exists already and whose it is (logic/preflight)."""
        statements = [
            iam.PolicyStatement(
                sid="CheckClusterUser",
                actions=["iam:GetUser", "iam:ListUserTags", "iam:ListAccessKeys"],
                resources=[self._arn("iam", "user", f"{IAM_USER_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="CheckSharedPolicy",
                actions=["iam:GetPolicy", "iam:ListPolicyTags"],
                resources=[self._arn("iam", "policy", SHARED_POLICY_NAME)],
            ),
            iam.PolicyStatement(
                sid="CheckSpotRole",
                actions=["iam:GetRole", "iam:ListRoleTags"],
                resources=[self._arn("iam", "role", SPOT_ROLE_NAME)],
            ),
            describe_key_pairs("CheckKeyPair"),
        ]
        for statement in statements:
            function.add_to_role_policy(statement)

    def _grant_iam_entities(self, function: lambda_.IFunction) -> None:
        partition = Stack.of(self).partition
        user_policies = [policies.managed_policy_arn(partition, name) for name in policies.MANAGED_POLICIES]
        user_policies += [
            policies.managed_policy_arn(partition, policies.S3_READ_POLICY),
            self._arn("iam", "policy", SHARED_POLICY_NAME),
            self._arn("iam", "policy", policies.CLUSTER_POLICY_PATTERN),
        ]
        cluster_policies = self._arn("iam", "policy", policies.CLUSTER_POLICY_PATTERN)
        role_policies = [policies.managed_policy_arn(partition, name) for name in policies.SEED_SPOT_ROLE_POLICIES]
        users = self._arn("iam", "user", f"{IAM_USER_PREFIX}*")
        spot_role = self._arn("iam", "role", SPOT_ROLE_NAME)
        statements = [
            iam.PolicyStatement(
                sid="ClusterUsers",
                actions=[
                    "iam:GetUser",
                    "iam:CreateUser",
                    "iam:TagUser",
                    "iam:ListUserTags",
                    "iam:ListAttachedUserPolicies",
                    "iam:ListUserPolicies",
                    # The seed's inline policy (replaced by the cluster's managed ones) and any made by hand.
                    "iam:DeleteUserPolicy",
                    "iam:ListAccessKeys",
                ],
                resources=[users],
            ),
            iam.PolicyStatement(
                # Adopting what the vendor's script made; our own users are tagged at creation.
                sid="TagAdoptedUsers",
                actions=["iam:TagUser"],
                resources=[users],
            ),
            iam.PolicyStatement(
                sid="AttachOnlyTheNamedPoliciesToUsers",
                actions=["iam:AttachUserPolicy"],
                resources=[users],
                conditions={"ArnLike": {"iam:PolicyARN": user_policies}},
            ),
            iam.PolicyStatement(
                # The cluster's policies no longer needed, and any attached by hand: detaching only takes away.
                sid="DetachPoliciesFromUsers",
                actions=["iam:DetachUserPolicy"],
                resources=[users],
            ),
            iam.PolicyStatement(
                sid="SharedPolicy",
                actions=[
                    "iam:GetPolicy",
                    "iam:CreatePolicy",
                    "iam:TagPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:ListPolicyTags",
                ],
                resources=[
                    self._arn("iam", "policy", SHARED_POLICY_NAME),
                    self._arn("iam", "policy", policies.BOUNDARY_POLICY_NAME),
                    cluster_policies,
                ],
            ),
            iam.PolicyStatement(
                sid="RetireClusterPolicies",
                actions=["iam:DeletePolicy"],
                resources=[cluster_policies],
            ),
            iam.PolicyStatement(
                sid="SpotRole",
                actions=[
                    "iam:GetRole",
                    "iam:CreateRole",
                    "iam:TagRole",
                    "iam:ListRoleTags",
                    "iam:ListAttachedRolePolicies",
                    "iam:PutRolePolicy",
                    "iam:ListRolePolicies",
                    # Inline policies made by hand; like detaching, deleting one only takes away.
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                ],
                resources=[spot_role],
            ),
            iam.PolicyStatement(
                sid="AttachOnlyTheNamedPoliciesToTheSpotRole",
                actions=["iam:AttachRolePolicy"],
                resources=[spot_role],
                conditions={"ArnEquals": {"iam:PolicyARN": role_policies}},
            ),
        ]
        for statement in statements:
            function.add_to_role_policy(statement)

    def _grant_cluster_secrets(
        self, function: lambda_.IFunction, secrets_key: kms.IKey, names: str = "*", readers: Sequence[str] = ()
    ) -> None:
        """Write, read back and restrict the readers of the secrets `kops-onboard/clusters/<names>`."""
        secrets = self._arn(
            "secretsmanager", "secret", f"{CLUSTER_SECRET_PREFIX}{names}", ArnFormat.COLON_RESOURCE_NAME
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ClusterSecrets",
                actions=[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:RestoreSecret",  # re-onboarding inside an offboarded secret's recovery window
                    "secretsmanager:TagResource",
                ],
                resources=[secrets],
            )
        )
        # What Secrets Manager uses on our behalf: a data key to encrypt, Decrypt to read back.
        secrets_key.grant(function, "kms:GenerateDataKey", "kms:Decrypt")
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="RestrictSecretReaders",
                actions=["secretsmanager:PutResourcePolicy"],
                resources=[secrets],
            )
        )
        # Who may read the secrets it writes: itself (reruns reuse them), `readers` and the operators named in context.
        allowed = [function.role.role_arn] if function.role else []
        allowed += [*readers, *(context_list(self, "secretReaderArns") or [])]
        function.add_environment(ENV_SECRET_READER_ARNS, ",".join(allowed))  # type: ignore[attr-defined]
        self.secret_readers[names.strip("*/-")] = allowed

    def _configure_drainer_step(
        self, function: lambda_.Function, secrets_key: kms.IKey, spot_handler_role_arn: str, spot_force_delete: bool
    ) -> None:
        """The Spot handler's role (the credential's only reader) as configuration; write the drainer
        credentials, never read them back: every run stores a new token."""
        function.add_environment(ENV_SPOT_HANDLER_ROLE_ARN, spot_handler_role_arn)
        function.add_environment(ENV_SPOT_FORCE_DELETE, str(spot_force_delete).lower())
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="WriteDrainerCredentials",
                actions=[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:RestoreSecret",  # re-onboarding inside an offboarded secret's recovery window
                    "secretsmanager:TagResource",
                    "secretsmanager:PutResourcePolicy",  # only the Spot handler's role may read it
                ],
                resources=[drainer_secrets(self)],
            )
        )
        secrets_key.grant(function, "kms:GenerateDataKey", "kms:Decrypt")

    def _grant_key_pair(self, function: lambda_.IFunction, secrets_key: kms.IKey, regions: Sequence[str]) -> None:
        key_pairs = [arn(self, "ec2", "key-pair", f"{IAM_USER_PREFIX}*", region=region) for region in regions]
        function.add_to_role_policy(describe_key_pairs())
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ClusterKeyPairs",
                actions=["ec2:CreateKeyPair", "ec2:DeleteKeyPair"],
                resources=key_pairs,
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="TagKeyPairsAtCreation",
                actions=["ec2:CreateTags"],
                resources=key_pairs,
                conditions={"StringEquals": {"ec2:CreateAction": "CreateKeyPair"}},
            )
        )
        self._grant_cluster_secrets(function, secrets_key, names="*/ssh-private-key-*")

    def _grant_access_key(self, function: lambda_.IFunction, secrets_key: kms.IKey, readers: Sequence[str]) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ClusterUserAccessKeys",
                # UpdateAccessKey: only ever to deactivate another key of the user (ListUserTags: not an adopted one).
                actions=[
                    "iam:ListAccessKeys",
                    "iam:ListUserTags",
                    "iam:CreateAccessKey",
                    "iam:DeleteAccessKey",
                    "iam:UpdateAccessKey",
                ],
                resources=[self._arn("iam", "user", f"{IAM_USER_PREFIX}*")],
            )
        )
        self._grant_cluster_secrets(function, secrets_key, names="*/access-key-*", readers=readers)

    def _step(self, step: OnboardingStep, compensation: sfn.IChainable) -> tasks.LambdaInvoke:
        task = lambda_task(
            self,
            step.state,
            self.functions[step.state],
            payload={},
            result_path=f"$.{step.result_key}",
            transient_errors=IAM_EVENTUAL_CONSISTENCY_ERROR_NAMES if step.iam else (),
        )
        task.add_catch(compensation, errors=["States.ALL"], result_path="$.error")
        return task


def discovery_statements(scope: Construct, state_store_bucket_arns: Sequence[str]) -> list[iam.PolicyStatement]:
    """What validation reads of the cluster in AWS (logic/discovery, logic/cluster/kops_spec)."""
    return [
        iam.PolicyStatement(
            sid="DiscoverCluster",
            # Describe* calls of EC2 and Auto Scaling support no resource-level permissions.
            actions=[
                "ec2:DescribeInstances",
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeLaunchTemplateVersions",
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeLaunchConfigurations",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ReadKopsVersionAndSpec",
            actions=["s3:GetObject"],
            resources=[f"{arn}/*/{key}" for arn in state_store_bucket_arns for key in ("kops-version.txt", "config")],
            # Bucket names are global: a `kops-state-*` bucket of another account must not be read.
            conditions={"StringEquals": {"s3:ResourceAccount": Stack.of(scope).account}},
        ),
    ]


def plan_statements(scope: Construct) -> list[iam.PolicyStatement]:
    """The plan's reads (its role, and the drift check's): names, tags, attachments and documents of exactly what
    onboarding may create, key pairs, and secrets described (never a value)."""
    return [
        iam.PolicyStatement(
            sid="PlanClusterUsers",
            actions=[
                "iam:GetUser",
                "iam:ListUserTags",
                "iam:ListAttachedUserPolicies",
                "iam:ListUserPolicies",
                "iam:ListAccessKeys",
            ],
            resources=[arn(scope, "iam", "user", f"{IAM_USER_PREFIX}*")],
        ),
        iam.PolicyStatement(
            sid="PlanOurPolicies",
            actions=["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyTags"],
            resources=[
                arn(scope, "iam", "policy", SHARED_POLICY_NAME),
                arn(scope, "iam", "policy", policies.BOUNDARY_POLICY_NAME),
                arn(scope, "iam", "policy", policies.CLUSTER_POLICY_PATTERN),
            ],
        ),
        iam.PolicyStatement(
            sid="PlanSpotRole",
            actions=[
                "iam:GetRole",
                "iam:ListRoleTags",
                "iam:ListAttachedRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
            ],
            resources=[arn(scope, "iam", "role", SPOT_ROLE_NAME)],
        ),
        iam.PolicyStatement(
            sid="PlanKeyPairs",
            actions=["ec2:DescribeKeyPairs"],
            resources=["*"],  # Describe* supports no resource-level permissions.
        ),
        iam.PolicyStatement(
            sid="PlanClusterSecrets",
            actions=["secretsmanager:DescribeSecret"],
            resources=[
                arn(scope, "secretsmanager", "secret", f"{CLUSTER_SECRET_PREFIX}*", ArnFormat.COLON_RESOURCE_NAME)
            ],
        ),
    ]
