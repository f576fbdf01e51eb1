"""Operability: alarms on failed workflows, the Spot DLQ, handler errors and the Spot canary, and a Spot dashboard."""

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT

# (metric, statistic, unit label) the Spot handler publishes with Powertools (EMF).
SPOT_METRICS = (
    ("EventAgeOnReceipt", "p90", "s"),
    ("TimeToCordon", "p90", "ms"),
    ("DrainSeconds", "p90", "s"),
    ("PodsEvicted", "Sum", "pods"),
    ("PodsLeftAtDeadline", "Sum", "pods"),
    ("IgnoredEvents", "Sum", "events"),
    ("MalformedEvents", "Sum", "events"),
    ("NotificationFailures", "Sum", "notifications"),
)


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machines: Mapping[str, sfn.StateMachine],
        functions: Mapping[str, lambda_.IFunction],
        metric_alarms: Mapping[str, tuple[cloudwatch.IMetric, str]],
        dead_letter_queue: sqs.IQueue,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{PRODUCT}: encrypts alarm notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to the encrypted topic, so it must use the key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(self, "AlarmTopic", display_name=f"{PRODUCT} alarms", master_key=key, enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, machine in state_machines.items():
            self._alarm(f"{name}Failed", machine.metric_failed(), f"{name} executions failed", action)
            self._alarm(f"{name}TimedOut", machine.metric_timed_out(), f"{name} executions timed out", action)
        for name, function in functions.items():
            self._alarm(f"{name}Errors", function.metric_errors(period=Duration.minutes(5)), f"{name} errors", action)
        for name, (metric, description) in metric_alarms.items():
            self._alarm(name, metric, description, action)
        self._alarm(
            "SpotDeadLetters",
            dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            "Spot events that could not be handled are waiting in the DLQ",
            action,
        )
        self.dashboard = cloudwatch.Dashboard(self, "SpotDashboard", dashboard_name=f"{PRODUCT}-spot")
        self.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"{metric} ({statistic}, {unit})",
                    left=[
                        cloudwatch.Metric(
                            namespace=METRICS_NAMESPACE,
                            metric_name=metric,
                            dimensions_map={"service": PRODUCT},
                            statistic=statistic,
                            period=Duration.minutes(1),
                        )
                    ],
                    width=8,
                )
                for metric, statistic, unit in SPOT_METRICS
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8),
        )

    def _alarm(self, alarm_id: str, metric: cloudwatch.IMetric, description: str, action: actions.SnsAction) -> None:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{PRODUCT}: {description}",
        )
        alarm.add_alarm_action(action)
        self.alarms.append(alarm)
