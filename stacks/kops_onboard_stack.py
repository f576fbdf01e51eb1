"""The product's stack: composes the registry, the secrets key, onboarding (with its rollback and the
compensation of stopped executions), offboarding, the Spot path and, with accessKeyRotationDays, the scheduled
access-key rotation."""

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from kops_lambda.constants import (
    AGENT_API_URL_DEFAULT,
    ENV_SPOT_REGIONS,
    PRODUCT,
    REGISTRY_TTL_ATTRIBUTE,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
)
from kops_lambda.workflow import ONBOARDING_CLEANUP_GROUPS, PLAN_STATE
from stacks.access_key_rotation import AccessKeyRotation, rotation_settings
from stacks.access_key_rotation import alarms as rotation_alarms
from stacks.canary import SpotCanary
from stacks.cleanup import CleanupFunctions
from stacks.compensation import CompensationWorkflow
from stacks.constructs.lambda_function import lambda_code
from stacks.context import context_list
from stacks.drift import DriftCheck
from stacks.network import cluster_network
from stacks.offboarding import OffboardingWorkflow
from stacks.onboarding import OnboardingWorkflow
from stacks.operations import Operations
from stacks.spot import SpotInterruptionHandling, spot_regions

DEFAULT_STATE_STORE_BUCKETS = ["kops-state-*"]


class KopsOnboardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add(TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE)
        buckets = context_list(self, "stateStoreBuckets") or DEFAULT_STATE_STORE_BUCKETS
        dry_run = str(self.node.try_get_context("spotDryRun") or "false").lower() == "true"
        # This region first; app_builder adds a forwarder stack for each of the others.
        self.spot_regions = spot_regions(self)

        self.secrets_key = kms.Key(
            self,
            "SecretsKey",
            description=f"{PRODUCT}: encrypts the access keys and private keys it stores",
            enable_key_rotation=True,
            alias=f"alias/{PRODUCT}-secrets",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.registry = dynamodb.Table(
            self,
            "ClusterRegistry",
            partition_key=dynamodb.Attribute(name="cluster_key", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
            # Expires rollback baselines left behind by executions that were stopped or timed out (clusters have none).
            time_to_live_attribute=REGISTRY_TTL_ATTRIBUTE,
        )
        # The clusters' VPC for the functions that talk to API servers (context cluster*; none by default).
        # Read before the bundling, so a bad setting fails the synth at once.
        self.network = cluster_network(self, "ClusterNetwork")
        code = lambda_code()
        self.spot = SpotInterruptionHandling(
            self,
            "Spot",
            code=code,
            registry=self.registry,
            secrets_key=self.secrets_key,
            dry_run=dry_run,
            regions=self.spot_regions,
            network=self.network,
        )
        spot_handler_role_arn = self.spot.function.role.role_arn  # type: ignore[union-attr]
        self.canary = SpotCanary(
            self,
            "SpotCanary",
            code=code,
            role=self.spot.function.role,  # type: ignore[arg-type]
            registry=self.registry,
            secrets_key=self.secrets_key,
            settings=self.spot.settings,
            network=self.network,
        )
        # Off by default: only with context accessKeyRotationDays.
        rotation = rotation_settings(self)
        self.rotation = (
            None
            if rotation is None
            else AccessKeyRotation(
                self,
                "AccessKeyRotation",
                code=code,
                registry=self.registry,
                secrets_key=self.secrets_key,
                settings=rotation,
            )
        )
        self.cleanup = CleanupFunctions(
            self,
            "Cleanup",
            code=code,
            registry=self.registry,
            secrets_key=self.secrets_key,
            spot_handler_role_arn=spot_handler_role_arn,
            cluster_regions=self.spot_regions,
            network=self.network,
        )
        self.onboarding = OnboardingWorkflow(
            self,
            "Onboarding",
            code=code,
            registry=self.registry,
            secrets_key=self.secrets_key,
            state_store_bucket_arns=[f"arn:{self.partition}:s3:::{bucket}" for bucket in buckets],
            spot_handler_role_arn=spot_handler_role_arn,
            spot_force_delete=self.spot.settings.force_delete,
            agent_api_url=str(self.node.try_get_context("agentApiUrl") or AGENT_API_URL_DEFAULT),
            cleanup=self.cleanup,
            cluster_regions=self.spot_regions,
            network=self.network,
            # The rotation reads the stored key's id: one of the secret's readers.
            access_key_readers=[self.rotation.role.role_arn] if self.rotation else [],
        )
        self.drift = DriftCheck(
            self,
            "DriftCheck",
            code=code,
            registry=self.registry,
            secrets_key=self.secrets_key,
            state_store_bucket_arns=[f"arn:{self.partition}:s3:::{bucket}" for bucket in buckets],
            spot_handler_role_arn=spot_handler_role_arn,
            spot_force_delete=self.spot.settings.force_delete,
            agent_api_url=str(self.node.try_get_context("agentApiUrl") or AGENT_API_URL_DEFAULT),
            seed_spot_role_policies=str(self.node.try_get_context("seedSpotRolePolicies") or "false").lower() == "true",
            secret_readers=self.onboarding.secret_readers,
            network=self.network,
        )
        # ValidateCluster refuses a cluster in any other region (RegionNotCovered): its Spot events never reach us.
        for state_name in ("ValidateCluster", PLAN_STATE):
            self.onboarding.functions[state_name].add_environment(ENV_SPOT_REGIONS, ",".join(self.spot_regions))
        self.offboarding = OffboardingWorkflow(self, "Offboarding", cleanup=self.cleanup)
        self.compensation = CompensationWorkflow(
            self,
            "Compensation",
            onboarding=self.onboarding.state_machine,
            # Every function an onboarding execution may be in when it stops: its steps and its rollback's.
            onboarding_functions=[
                *self.onboarding.functions.values(),
                *(self.cleanup.functions[group] for group in ONBOARDING_CLEANUP_GROUPS),
            ],
            cleanup=self.cleanup,
        )

        self.operations = Operations(
            self,
            "Operations",
            state_machines={
                "Onboarding": self.onboarding.state_machine,
                "Offboarding": self.offboarding.state_machine,
                "Compensation": self.compensation.state_machine,
            },
            functions={
                **self.onboarding.functions,
                **{f"Cleanup{name}": function for name, function in self.cleanup.functions.items()},
                "SpotHandler": self.spot.function,
                "SpotCanary": self.canary.function,
                "DriftCheck": self.drift.function,
                **({"AccessKeyRotation": self.rotation.function} if self.rotation else {}),
            },
            metric_alarms={
                "SpotCanaryFailed": (
                    self.canary.metric_failed_clusters(),
                    "the Spot canary found clusters the Spot handler could not drain (reason in its log)",
                ),
                **rotation_alarms(self.rotation),
                **self.drift.alarms(),
            },
            dead_letter_queue=self.spot.dead_letter_queue,
            alarm_email=self.node.try_get_context("alarmEmail"),
        )

        CfnOutput(self, "OnboardingStateMachineArn", value=self.onboarding.state_machine.state_machine_arn)
        CfnOutput(self, "OffboardingStateMachineArn", value=self.offboarding.state_machine.state_machine_arn)
        CfnOutput(self, "CompensationStateMachineArn", value=self.compensation.state_machine.state_machine_arn)
        CfnOutput(self, "RegistryTableName", value=self.registry.table_name)
        CfnOutput(self, "SpotEventQueueUrl", value=self.spot.queue.queue_url)
        CfnOutput(self, "SpotHandlerFunctionName", value=self.spot.function.function_name)
        CfnOutput(self, "SpotDeadLetterQueueUrl", value=self.spot.dead_letter_queue.queue_url)
        CfnOutput(self, "SpotRegions", value=",".join(self.spot_regions))
