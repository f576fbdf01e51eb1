"""Scheduled rotation of the clusters' access keys (handlers/access_key_rotation.py), only with context
accessKeyRotationDays: without it the stack has no rotation function, role, schedule or alarm.

- accessKeyRotationDays -> ACCESS_KEY_ROTATION_DAYS (off; 1-3650): a daily schedule replaces every onboarded
  cluster's access key older than that many days.
- accessKeyRotationTopicArn -> ACCESS_KEY_ROTATION_TOPIC_ARN (off): an SNS topic told of every rotation (cluster,
  secret ARN, the new key's id, when); accessKeyRotationTopicKeyArn (off): its customer managed KMS key, if any.

The function has a role of its own, each statement as narrow as IAM allows (rotation_statements): access keys
of the users onboarding made only (`cast-kops-*`, tagged managed-by), a new version of those clusters'
access-key secrets only, the registry's cluster list and status and the lease items, the stack key through
Secrets Manager. It is one of the readers of the access-key secrets (the resource policy onboarding writes).
"""

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from kops_lambda.constants import (
    CLUSTER_SECRET_PREFIX,
    CREATION_MARKER_PREFIX,
    ENV_REGISTRY_TABLE,
    ENV_SECRETS_KMS_KEY,
    IAM_USER_PREFIX,
    LEASE_KEY_PREFIX,
    METRICS_NAMESPACE,
    PRODUCT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
)
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.access_key_rotation import check_rotation_settings
from kops_lambda.logic.registry import CANARY_READ_ATTRIBUTES, STATUS_READ_ATTRIBUTES
from kops_lambda.settings import RotationSettings, rotation_settings_from
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import arn, registry_scan

# RotationSettings field -> CDK context key.
CONTEXT_KEYS = {
    "days": "accessKeyRotationDays",
    "topic_arn": "accessKeyRotationTopicArn",
    "topic_key_arn": "accessKeyRotationTopicKeyArn",
}
# Clusters are rotated one after the other, each a handful of IAM and Secrets Manager calls.
ROTATION_TIMEOUT = Duration.minutes(5)
SCHEDULE = Duration.days(1)


def rotation_settings(scope: Construct) -> RotationSettings | None:
    """The rotation's settings from context; None when accessKeyRotationDays is not set (the default). A bad
    value, or a topic setting without the days, fails the synth naming the key."""
    values = {field: scope.node.try_get_context(key) for field, key in CONTEXT_KEYS.items()}
    given = {field: value for field, value in values.items() if value not in (None, "")}
    if "days" not in given:
        if given:
            keys = ", ".join(CONTEXT_KEYS[field] for field in given)
            raise InvalidSettings(f"{keys}: given without {CONTEXT_KEYS['days']} (the rotation is off)")
        return None
    settings = rotation_settings_from(given, CONTEXT_KEYS)
    check_rotation_settings(settings, CONTEXT_KEYS)
    return settings


def rotation_statements(
    *,
    users: str,
    access_key_secrets: str,
    registry: str,
    executions: str,
    secrets_key: str,
    region: str,
    topic_arn: str = "",
    topic_key_arn: str = "",
) -> list[iam.PolicyStatement]:
    """The rotation role's grants, given the ARNs (patterns) they are scoped to."""
    statements = [
        iam.PolicyStatement(
            sid="RotateClusterUserAccessKeys",
            actions=["iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"],
            resources=[users],
            conditions={"StringEquals": {f"aws:ResourceTag/{TAG_MANAGED_BY}": TAG_MANAGED_BY_VALUE}},
        ),
        iam.PolicyStatement(
            # The current key's id is read from the secret; the new key is stored as its next version.
            sid="StoreRotatedAccessKey",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            resources=[access_key_secrets],
            conditions={"StringEquals": {f"secretsmanager:ResourceTag/{TAG_MANAGED_BY}": TAG_MANAGED_BY_VALUE}},
        ),
        iam.PolicyStatement(
            sid="UseSecretsKeyThroughSecretsManager",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[secrets_key],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        ),
        registry_scan(registry, CANARY_READ_ATTRIBUTES),
        iam.PolicyStatement(
            sid="ReadClusterStatus",
            actions=["dynamodb:GetItem"],
            resources=[registry],
            # Null: a GetItem without a projection (the whole item) has no dynamodb:Attributes.
            conditions={
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(STATUS_READ_ATTRIBUTES)},
                "Null": {"dynamodb:Attributes": "false"},
            },
        ),
        iam.PolicyStatement(
            # The cluster's lease and the access key's creation marker: items of their own, never a cluster's.
            sid="ClusterLeaseAndAccessKeyMarker",
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            resources=[registry],
            conditions={
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": [f"{LEASE_KEY_PREFIX}*", f"{CREATION_MARKER_PREFIX}access-key#*"]
                }
            },
        ),
        iam.PolicyStatement(
            # Whether the execution holding a lease has ended (its lease is then taken over).
            sid="ReadLeaseHolderStatus",
            actions=["states:DescribeExecution"],
            resources=[executions],
        ),
    ]
    if topic_arn:
        statements.append(iam.PolicyStatement(sid="PublishRotations", actions=["sns:Publish"], resources=[topic_arn]))
    if topic_arn and topic_key_arn:
        statements.append(
            iam.PolicyStatement(
                sid="EncryptRotationNotifications",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[topic_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{topic_arn.split(':')[3]}.amazonaws.com"}},
            )
        )
    return statements


class AccessKeyRotation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        secrets_key: kms.IKey,
        settings: RotationSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        rotation = KopsFunction(
            self,
            "Function",
            handler="kops_lambda.handlers.access_key_rotation.handler",
            description=f"{PRODUCT}: rotate the clusters' access keys older than {settings.days} days",
            code=code,
            timeout=ROTATION_TIMEOUT,
            # One run at a time (the leases would keep two apart per cluster, at the cost of busy counts).
            reserved_concurrency=1,
            environment={
                ENV_REGISTRY_TABLE: registry.table_name,
                ENV_SECRETS_KMS_KEY: secrets_key.key_arn,
                **settings.environment(),
            },
        )
        self.function = rotation.function
        self.role = rotation.role
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"{PRODUCT}: rotate access keys older than {settings.days} days, daily",
            schedule=events.Schedule.rate(SCHEDULE),
            # A missed run is not worth a retry: the next one comes within the day.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        stack = Stack.of(self)
        name_pattern = f"{CLUSTER_SECRET_PREFIX}*/access-key-??????"  # Secrets Manager's 6-character suffix
        for statement in rotation_statements(
            users=arn(self, "iam", "user", f"{IAM_USER_PREFIX}*"),
            access_key_secrets=arn(self, "secretsmanager", "secret", name_pattern, ArnFormat.COLON_RESOURCE_NAME),
            registry=registry.table_arn,
            executions=arn(self, "states", "execution", "*", ArnFormat.COLON_RESOURCE_NAME),
            secrets_key=secrets_key.key_arn,
            region=stack.region,
            topic_arn=settings.topic_arn,
            topic_key_arn=settings.topic_key_arn,
        ):
            self.role.add_to_principal_policy(statement)

    def metric_failed_clusters(self) -> cloudwatch.Metric:
        """How many clusters' rotations failed in a run (one run a day, so Maximum is that run's count)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name="AccessKeyRotationsFailed",
            dimensions_map={"service": PRODUCT},
            statistic="Maximum",
            period=SCHEDULE,
        )


def alarms(rotation: AccessKeyRotation | None) -> Mapping[str, tuple[cloudwatch.IMetric, str]]:
    """The rotation's alarm for Operations (none without the rotation)."""
    if rotation is None:
        return {}
    return {
        "AccessKeyRotationFailed": (
            rotation.metric_failed_clusters(),
            "access keys could not be rotated (the old keys still work; reason in the rotation's log)",
        )
    }
