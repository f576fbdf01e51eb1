"""Spot path: EventBridge rule -> SQS buffer (with DLQ) -> the Spot handler Lambda."""

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from kops_lambda.constants import (
    CLUSTER_SECRET_PREFIX,
    ENV_IDEMPOTENCY_TABLE,
    ENV_REGISTRY_TABLE,
    ENV_SPOT_DRY_RUN,
    PRODUCT,
    SPOT_DETAIL_TYPES,
    SPOT_EVENT_SOURCE,
)
from stacks.constructs.lambda_function import KopsFunction

HANDLER_TIMEOUT = Duration.seconds(120)
# AWS requires the queue's visibility timeout to cover the function timeout.
VISIBILITY_TIMEOUT = Duration.seconds(150)
MAX_RECEIVES = 3


class SpotInterruptionHandling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        dry_run: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "EventQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            # Older than the 2-minute warning window is useless to drain for; keep an hour for diagnosis.
            retention_period=Duration.hours(1),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES),
        )
        self.rule = events.Rule(
            self,
            "InterruptionRule",
            description=f"{PRODUCT}: EC2 Spot interruption warnings and rebalance recommendations",
            event_pattern=events.EventPattern(source=[SPOT_EVENT_SOURCE], detail_type=list(SPOT_DETAIL_TYPES)),
            targets=[targets.SqsQueue(self.queue)],
        )
        handler = KopsFunction(
            self,
            "Handler",
            handler="kops_lambda.handlers.spot_interruption.handler",
            description=f"{PRODUCT}: cordon and drain nodes of interrupted Spot instances",
            code=code,
            timeout=HANDLER_TIMEOUT,
            memory_size=1024,
            environment={
                ENV_REGISTRY_TABLE: registry.table_name,
                ENV_IDEMPOTENCY_TABLE: self.idempotency_table.table_name,
                ENV_SPOT_DRY_RUN: "true" if dry_run else "false",
            },
        )
        self.function = handler.function
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
        registry.grant_read_data(self.function)
        self.idempotency_table.grant_read_write_data(self.function)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeInterruptedInstance",
                actions=["ec2:DescribeInstances"],
                resources=["*"],  # DescribeInstances supports no resource-level permissions.
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadClusterAccess",
                actions=["secretsmanager:GetSecretValue"],
                resources=[
                    Stack.of(self).format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name=f"{CLUSTER_SECRET_PREFIX}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
