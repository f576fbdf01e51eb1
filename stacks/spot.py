"""Spot path: EventBridge rules -> SQS buffer (with DLQ) -> the Spot handler Lambda.

Settings come from CDK context (`-c key=value` or cdk.json), validated at synth by the runtime's own
model (kops_lambda.settings.SpotSettings), and reach the function as environment variables:

- spotDryRun -> SPOT_DRY_RUN (false): log what would be done; no writes to nodes, pods, ASGs or dedup.
- spotWarningAction -> SPOT_WARNING_ACTION (drain), spotRebalanceAction -> SPOT_REBALANCE_ACTION (taint),
  spotStateChangeAction -> SPOT_STATE_CHANGE_ACTION (drain), spotCapacityReservationAction ->
  SPOT_CAPACITY_RESERVATION_ACTION (drain; interruptible Capacity Reservation warnings): one of none, taint
  (PreferNoSchedule only), cordon (unschedulable + NoSchedule taint + out of external load balancers), drain
  (cordon, then evict).
- spotDeadlineMarginSeconds -> SPOT_DEADLINE_MARGIN_SECONDS (15, 0-60): evictions stop at event time + 120 s
  minus this (and 5 s before the function's timeout).
- spotEvictionConcurrency -> SPOT_EVICTION_CONCURRENCY (32, 1-256): evictions in flight per node.
- spotEarlyReplacement -> SPOT_EARLY_REPLACEMENT (true): detach a warned instance (instance-action terminate)
  from its ASG without decrementing the desired capacity, so the replacement launches at once.
- spotForceDelete -> SPOT_FORCE_DELETE (false): delete, bypassing PDBs, what eviction left at the deadline
  (the cluster role then needs pods/delete).
- spotDrainControlPlane -> SPOT_DRAIN_CONTROL_PLANE (false): drain nodes of kOps control-plane instance groups
  too; by default they are cordoned only. They are never detached from their ASG (nor may the role detach them).
- spotLifecycleHookName -> SPOT_LIFECYCLE_HOOK_NAME (kops-onboard-drain): the ASG termination lifecycle hook whose
  actions we handle (the rule matches no other hook; the operator adds the hook to the worker groups), and
  spotLifecycleAction -> SPOT_LIFECYCLE_ACTION (drain): what is done about the node before the action is
  completed with CONTINUE (heartbeats are sent at half the hook's timeout meanwhile).
- spotScheduledChangeAction -> SPOT_SCHEDULED_CHANGE_ACTION (drain): AWS Health scheduled changes of EC2 instances
  (retirement, stop, reboot maintenance); every affected instance is handled when the event arrives.
- spotOutOfServiceTaint -> SPOT_OUT_OF_SERVICE_TAINT (false): after the drain of an instance that is going away
  (terminate, shutting-down, terminated), taint its node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute
  (as NTH's ENABLE_OUT_OF_SERVICE_TAINT): Kubernetes then deletes what is left and detaches its volumes at once.
- spotNotificationTopicArn -> SPOT_NOTIFICATION_TOPIC_ARN (off): an SNS topic that gets one message per interruption
  outcome (tainted, cordoned, drained, drain-incomplete, unchanged); the role may publish to it only.
  spotNotificationTopicKeyArn (off): the topic's customer managed KMS key, if it has one (GenerateDataKey and
  Decrypt through SNS only); not given to the function.
- spotWebhookUrlSecretArn -> SPOT_WEBHOOK_URL_SECRET_ARN (off): the complete ARN of a Secrets Manager secret
  holding an https URL that gets the same notifications as a POSTed JSON body (the URL often carries a token:
  never in the environment); the role may read that one secret. spotWebhookTemplate -> SPOT_WEBHOOK_TEMPLATE
  (the default body): a string.Template of the JSON body ($cluster, $node, $instance, $result, ...; values
  JSON-escaped), rendered with sample values at synth. Checked by logic/spot/notify.check_notification_settings.
- spotCanaryMinutes (15, 1-1440): minutes between two runs of the Spot canary (stacks/canary.py); the
  schedule's rate, not given to any function.
- spotRegions -> SPOT_REGIONS of ValidateCluster (the stack's region only): the regions whose Spot events
  reach the handler; a list or a comma-separated string. For each region but the stack's, app_builder adds
  a stack with the same rules there (stacks/spot_forwarder.py), forwarding to this region's default bus.
  The handler gets them as SPOT_REGIONS too, and the stack's account as SPOT_ACCOUNT_ID: it rejects events of
  any other account or region (the rules match only those already; the handler checks what reaches the queue).
"""

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from kops_lambda.constants import (
    ENV_IDEMPOTENCY_TABLE,
    ENV_REGISTRY_TABLE,
    ENV_SPOT_ACCOUNT,
    ENV_SPOT_REGIONS,
    HEALTH_DETAIL_TYPE,
    HEALTH_EVENT_SOURCE,
    KOPS_CONTROL_PLANE_ROLE_TAGS,
    KOPS_TAG_CLUSTER,
    LIFECYCLE_DETAIL_TYPE,
    LIFECYCLE_EVENT_SOURCE,
    LIFECYCLE_TERMINATING,
    PRODUCT,
    SPOT_BATCH_SIZE,
    SPOT_DETAIL_TYPES,
    SPOT_EVENT_SOURCE,
    SPOT_STATE_CHANGE_DETAIL_TYPE,
    SPOT_STATE_CHANGE_STATES,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
)
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.spot.notify import check_notification_settings
from kops_lambda.settings import SpotSettings, parse_regions, spot_settings_from
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import drainer_secrets
from stacks.network import ClusterNetwork

HANDLER_TIMEOUT = Duration.seconds(120)
# AWS requires the queue's visibility timeout to cover the function timeout.
VISIBILITY_TIMEOUT = Duration.seconds(150)
MAX_RECEIVES = 3
# SpotSettings field -> CDK context key (spotDryRun is read by the stack and passed as `dry_run`).
CONTEXT_KEYS = {
    "warning_action": "spotWarningAction",
    "rebalance_action": "spotRebalanceAction",
    "state_change_action": "spotStateChangeAction",
    "capacity_reservation_action": "spotCapacityReservationAction",
    "lifecycle_action": "spotLifecycleAction",
    "scheduled_change_action": "spotScheduledChangeAction",
    "lifecycle_hook_name": "spotLifecycleHookName",
    "deadline_margin_seconds": "spotDeadlineMarginSeconds",
    "eviction_concurrency": "spotEvictionConcurrency",
    "early_replacement": "spotEarlyReplacement",
    "force_delete": "spotForceDelete",
    "drain_control_plane": "spotDrainControlPlane",
    "out_of_service_taint": "spotOutOfServiceTaint",
    "canary_minutes": "spotCanaryMinutes",
    "notification_topic_arn": "spotNotificationTopicArn",
    "notification_topic_key_arn": "spotNotificationTopicKeyArn",
    "webhook_url_secret_arn": "spotWebhookUrlSecretArn",
    "webhook_template": "spotWebhookTemplate",
}
SPOT_REGIONS_CONTEXT = "spotRegions"


@dataclass(frozen=True)
class SpotRule:
    construct_id: str
    description: str
    pattern: events.EventPattern


def spot_rules(*, account: str, regions: tuple[str, ...], lifecycle_hook_name: str) -> tuple[SpotRule, ...]:
    """The Spot rules, the same in the home stack and in every forwarder stack: events of `account` (the
    stack's) in `regions` only. A bus may receive other accounts' events (a bus policy, a partner); EventBridge
    keeps a forwarded event's account and region, so the home rules filter forwarded events as well. Lifecycle
    actions only of the hook named `lifecycle_hook_name`: another tool's hooks are that tool's to complete."""
    return (
        SpotRule(
            "InterruptionRule",
            f"{PRODUCT}: EC2 Spot and Capacity Reservation interruption warnings, rebalance recommendations",
            events.EventPattern(
                source=[SPOT_EVENT_SOURCE],
                detail_type=list(SPOT_DETAIL_TYPES),
                account=[account],
                region=list(regions),
            ),
        ),
        # A rule of its own: the state filter applies to this detail type only (every launch would match).
        SpotRule(
            "StateChangeRule",
            f"{PRODUCT}: EC2 instances stopping or terminating",
            events.EventPattern(
                source=[SPOT_EVENT_SOURCE],
                detail_type=[SPOT_STATE_CHANGE_DETAIL_TYPE],
                detail={"state": list(SPOT_STATE_CHANGE_STATES)},
                account=[account],
                region=list(regions),
            ),
        ),
        SpotRule(
            "HealthRule",
            f"{PRODUCT}: AWS Health scheduled changes of EC2 instances",
            events.EventPattern(
                source=[HEALTH_EVENT_SOURCE],
                detail_type=[HEALTH_DETAIL_TYPE],
                detail={"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]},
                account=[account],
                region=list(regions),
            ),
        ),
        SpotRule(
            "LifecycleRule",
            f"{PRODUCT}: ASG instances held by the {lifecycle_hook_name} termination lifecycle hook",
            events.EventPattern(
                source=[LIFECYCLE_EVENT_SOURCE],
                detail_type=[LIFECYCLE_DETAIL_TYPE],
                detail={"LifecycleHookName": [lifecycle_hook_name], "LifecycleTransition": [LIFECYCLE_TERMINATING]},
                account=[account],
                region=list(regions),
            ),
        ),
    )


def spot_regions(stack: Stack) -> tuple[str, ...]:
    """The stack's region first, then the other regions of context spotRegions; a bad value fails the synth.

    Other regions forward to this one's bus, so they need it by name: an environment-agnostic stack (no
    CDK_DEFAULT_REGION, which the CDK CLI sets from AWS_REGION or the profile) cannot have them."""
    value = stack.node.try_get_context(SPOT_REGIONS_CONTEXT)
    asked = parse_regions(value, setting=SPOT_REGIONS_CONTEXT) if value is not None else ()
    home = stack.region
    others = tuple(region for region in asked if region != home)
    if others and Token.is_unresolved(home):
        raise InvalidSettings(
            f"{SPOT_REGIONS_CONTEXT} names {', '.join(others)} but the stack's own region is not known at synth: "
            "set AWS_REGION (or CDK_DEFAULT_REGION, or a profile's region) so the forwarders know where to send"
        )
    return (home, *others)


def spot_settings(scope: Construct, *, dry_run: bool) -> SpotSettings:
    """The Spot settings from context; a bad value fails the synth (InvalidSettings names it)."""
    values: dict[str, object] = {"dry_run": dry_run}
    for field_name, key in CONTEXT_KEYS.items():
        value = scope.node.try_get_context(key)
        if value is not None:
            values[field_name] = value
    settings = spot_settings_from(values, CONTEXT_KEYS)
    check_notification_settings(settings, CONTEXT_KEYS)
    return settings


def notification_statements(settings: SpotSettings) -> list[iam.PolicyStatement]:
    """What the Spot role needs for the configured notifications, and nothing when none is: publish to that one
    topic (and use its own KMS key through SNS only), read that one secret."""
    statements = []
    topic = settings.notification_topic_arn
    if topic:
        statements.append(iam.PolicyStatement(sid="PublishNotifications", actions=["sns:Publish"], resources=[topic]))
    if topic and settings.notification_topic_key_arn:
        # SNS encrypts the message with the topic's key on the publisher's behalf.
        statements.append(
            iam.PolicyStatement(
                sid="EncryptNotifications",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[settings.notification_topic_key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{topic.split(':')[3]}.amazonaws.com"}},
            )
        )
    if settings.webhook_url_secret_arn:
        statements.append(
            iam.PolicyStatement(
                sid="ReadWebhookUrl",
                actions=["secretsmanager:GetSecretValue"],
                resources=[settings.webhook_url_secret_arn],
            )
        )
    return statements


class SpotInterruptionHandling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        secrets_key: kms.IKey,
        dry_run: bool,
        regions: tuple[str, ...],
        network: ClusterNetwork | None = None,
    ) -> None:
        """`regions`: every region whose Spot events reach this handler (spot_regions)."""
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
        self.settings = spot_settings(self, dry_run=dry_run)
        account = Stack.of(self).account
        # Events forwarded from the other regions arrive on this bus with their own region: the same rules match.
        self.rules = [
            events.Rule(
                self,
                rule.construct_id,
                description=rule.description,
                event_pattern=rule.pattern,
                targets=[targets.SqsQueue(self.queue)],
            )
            for rule in spot_rules(
                account=account, regions=regions, lifecycle_hook_name=self.settings.lifecycle_hook_name
            )
        ]
        # The targets allow our rules to send (events.amazonaws.com, aws:SourceArn = the rule); this refuses
        # everyone else, principals of this account included, whatever their IAM policies allow. SQS itself
        # still moves messages to the DLQ (the redrive policy is no SendMessage of a principal).
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyOurSpotRulesSend",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                # A request without aws:SourceArn (any IAM principal) matches ArnNotEquals too.
                conditions={"ArnNotEquals": {"aws:SourceArn": [rule.rule_arn for rule in self.rules]}},
            )
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
                # The stack's account as a token (AWS::AccountId): known at deploy, no STS call per cold start.
                ENV_SPOT_ACCOUNT: account,
                ENV_SPOT_REGIONS: ",".join(regions),
                **self.settings.environment(),
            },
            network=network,
        )
        self.function = handler.function
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=SPOT_BATCH_SIZE, report_batch_item_failures=True)
        )
        registry.grant(self.function, "dynamodb:GetItem")
        # What Powertools Idempotency does: conditional put, read, complete (update), delete on failure.
        self.idempotency_table.grant(
            self.function, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeInterruptedInstance",
                actions=["ec2:DescribeInstances"],
                resources=["*"],  # DescribeInstances supports no resource-level permissions.
            )
        )
        asg_arns = [
            Stack.of(self).format_arn(
                service="autoscaling",
                region=region,
                resource="autoScalingGroup",
                resource_name="*:autoScalingGroupName/*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for region in regions
        ]
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="EarlyReplacement",
                actions=["autoscaling:DetachInstances"],
                # ASG ARNs carry a generated id, so names cannot narrow this: only groups kOps tagged, in the
                # regions whose events reach us (the event's region is the instance's), and never a group of
                # the control plane (kOps tags those k8s.io/role/master and/or k8s.io/role/control-plane).
                resources=asg_arns,
                conditions={
                    "Null": {
                        f"aws:ResourceTag/{KOPS_TAG_CLUSTER}": "false",
                        **{f"aws:ResourceTag/{tag}": "true" for tag in KOPS_CONTROL_PLANE_ROLE_TAGS},
                    }
                },
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="LifecycleActions",
                # Heartbeats and CONTINUE for instances held by our hook, in groups kOps tagged (the control
                # plane's too: the group terminates the instance anyway, at the hook's timeout).
                actions=["autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:CompleteLifecycleAction"],
                resources=asg_arns,
                conditions={"Null": {f"aws:ResourceTag/{KOPS_TAG_CLUSTER}": "false"}},
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeLifecycleHooks",
                actions=["autoscaling:DescribeLifecycleHooks"],
                resources=["*"],  # Describe* of Auto Scaling supports no resource-level permissions.
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                # Its own credential per cluster, nothing else: not the admin kubeconfig, the access key or the
                # private key under the same prefix; and only secrets we tagged (onboarding tags on creation).
                sid="ReadDrainerCredentials",
                actions=["secretsmanager:GetSecretValue"],
                resources=[drainer_secrets(self)],
                conditions={"StringEquals": {f"secretsmanager:ResourceTag/{TAG_MANAGED_BY}": TAG_MANAGED_BY_VALUE}},
            )
        )
        # Secrets Manager decrypts the credential with the stack's key on the handler's behalf, and only it.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DecryptDrainerCredentials",
                actions=["kms:Decrypt"],
                resources=[secrets_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com"}
                },
            )
        )
        for statement in notification_statements(self.settings):
            self.function.add_to_role_policy(statement)
