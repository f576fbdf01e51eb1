"""The Spot canary: an EventBridge schedule (every `spotCanaryMinutes`, default 15) runs a function that checks
every onboarded cluster's drain path as the Spot handler would take it (handlers/spot_canary.py).

The function runs as the Spot handler's role: in authenticator mode a cluster maps that role's ARN, so only
its token proves the mapping the handler depends on. What the canary needs beyond the handler's grants is a
policy of its own on that role, each statement as narrow as IAM allows:

- registry: `Scan` of the attributes it reads only (`dynamodb:Select` + `dynamodb:Attributes`), `UpdateItem`
  of the key and the `canary` attribute only, returning nothing;
- `PutSecretValue` on the drainer credentials only (renewal: a new version, nothing else of the secret), and
  the stack key's `GenerateDataKey` through Secrets Manager for that version.
"""

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from kops_lambda.constants import (
    ENV_REGISTRY_TABLE,
    METRICS_NAMESPACE,
    PRODUCT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
)
from kops_lambda.logic.registry import CANARY_ATTRIBUTE, CANARY_READ_ATTRIBUTES
from kops_lambda.settings import SpotSettings
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import drainer_secrets, registry_attribute_write, registry_scan
from stacks.network import ClusterNetwork

# Clusters are checked concurrently, each bounded by the client's timeouts (an unreachable one: ~10 s).
CANARY_TIMEOUT = Duration.seconds(120)


class SpotCanary(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        role: iam.IRole,
        registry: dynamodb.ITable,
        secrets_key: kms.IKey,
        settings: SpotSettings,
        network: ClusterNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        canary = KopsFunction(
            self,
            "Function",
            handler="kops_lambda.handlers.spot_canary.handler",
            description=f"{PRODUCT}: check that the Spot handler can still drain every onboarded cluster",
            code=code,
            timeout=CANARY_TIMEOUT,
            role=role,
            # One run at a time: two would renew the same token twice.
            reserved_concurrency=1,
            environment={ENV_REGISTRY_TABLE: registry.table_name, **settings.environment()},
            network=network,
        )
        self.function = canary.function
        self.period = Duration.minutes(settings.canary_minutes)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"{PRODUCT}: run the Spot canary every {settings.canary_minutes} minutes",
            schedule=events.Schedule.rate(self.period),
            # A missed run is not worth a retry: the next one comes within the period.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        region = Stack.of(self).region
        policy = iam.Policy(
            self,
            "Policy",
            statements=[
                registry_scan(registry.table_arn, CANARY_READ_ATTRIBUTES),
                registry_attribute_write(registry.table_arn, CANARY_ATTRIBUTE, sid="RecordCanaryResult"),
                iam.PolicyStatement(
                    sid="RenewDrainerToken",
                    actions=["secretsmanager:PutSecretValue"],
                    resources=[drainer_secrets(self)],
                    conditions={"StringEquals": {f"secretsmanager:ResourceTag/{TAG_MANAGED_BY}": TAG_MANAGED_BY_VALUE}},
                ),
                iam.PolicyStatement(
                    sid="EncryptRenewedToken",
                    actions=["kms:GenerateDataKey"],
                    resources=[secrets_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
                ),
            ],
        )
        policy.attach_to_role(role)

    def metric_failed_clusters(self) -> cloudwatch.Metric:
        """How many clusters failed in a run (one run per period, so Maximum is that run's count)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="CanaryFailedClusters",
            dimensions_map={"service": PRODUCT},
            statistic="Maximum",
            period=self.period,
        )
