"""The drift check: an EventBridge schedule (every `driftCheckMinutes`, default 60) runs a function that compares
every onboarded cluster with what onboarding made (handlers/drift_check.py, logic/drift.py).

It has a read-only role of its own: what the plan reads (the same statements, `plan_statements` and
`discovery_statements`), the clusters' kubeconfig secrets (the admin kubeconfig the plan connects with, as
every cluster step), and beyond the plan only more reads: the Spot role's inline policy names, the cluster
secrets' resource policies. Of the registry it scans the attributes it reads and writes the `drift` attribute
only. It writes nothing in IAM, Secrets Manager or a cluster (Kubernetes GETs only).

Alarms: the clusters come and go at runtime, and an alarm per cluster would need the function to create
alarms (cloudwatch:PutMetricAlarm, a write for a read-only role, and alarms left behind by offboarded
clusters). So the stack has two alarms on per-run counts without a cluster dimension, `DriftedClusters` and
`AccessWideningClusters` (at least one in the run's period), and the per-cluster metrics `DriftedResources` and
`AccessWideningDrift` (dimension `Cluster`) say which clusters; the registry's `drift` attribute and
`kops-onboard status` say what.
"""

from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, Duration
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
    ENV_AGENT_API_URL,
    ENV_REGISTRY_TABLE,
    ENV_SEED_SPOT_ROLE_POLICIES,
    ENV_SPOT_FORCE_DELETE,
    ENV_SPOT_HANDLER_ROLE_ARN,
    METRICS_NAMESPACE,
    PRODUCT,
    drift_secret_readers_env,
)
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.registry import DRIFT_ATTRIBUTE, DRIFT_READ_ATTRIBUTES
from stacks.constructs.lambda_function import KopsFunction
from stacks.constructs.workflow import arn, grant_cluster_access, registry_attribute_write, registry_scan
from stacks.network import ClusterNetwork
from stacks.onboarding import discovery_statements, plan_statements

CONTEXT_KEY = "driftCheckMinutes"
DEFAULT_MINUTES = 60
MINUTES_RANGE = (5, 1440)
# Clusters are checked one after the other, each a plan's reads (a few seconds; an unreachable one ~10 s).
DRIFT_TIMEOUT = Duration.minutes(10)


def drift_check_minutes(scope: Construct) -> int:
    """driftCheckMinutes from context (default 60); a value that is not 5-1440 minutes fails the synth."""
    value = scope.node.try_get_context(CONTEXT_KEY)
    if value in (None, ""):
        return DEFAULT_MINUTES
    try:
        minutes = int(str(value))
    except ValueError:
        raise InvalidSettings(f"{CONTEXT_KEY}: {value!r} is not a whole number of minutes") from None
    if not MINUTES_RANGE[0] <= minutes <= MINUTES_RANGE[1]:
        raise InvalidSettings(f"{CONTEXT_KEY}: {minutes} is not within {MINUTES_RANGE[0]}-{MINUTES_RANGE[1]} minutes")
    return minutes


def drift_statements(scope: Construct, *, registry: str) -> list[iam.PolicyStatement]:
    """What the drift check reads beyond the plan, and the one attribute it writes."""
    cluster_secrets = arn(scope, "secretsmanager", "secret", f"{CLUSTER_SECRET_PREFIX}*", ArnFormat.COLON_RESOURCE_NAME)
    return [
        iam.PolicyStatement(
            sid="ReadClusterSecretPolicies",
            actions=["secretsmanager:GetResourcePolicy"],
            resources=[cluster_secrets],
        ),
        registry_scan(registry, DRIFT_READ_ATTRIBUTES),
        registry_attribute_write(registry, DRIFT_ATTRIBUTE, sid="RecordDriftResult"),
    ]


class DriftCheck(Construct):
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
        seed_spot_role_policies: bool,
        secret_readers: Mapping[str, Sequence[str]],
        network: ClusterNetwork | None = None,
    ) -> None:
        """`secret_readers`: secret kind -> the readers its resource policy names (OnboardingWorkflow's)."""
        super().__init__(scope, construct_id)
        minutes = drift_check_minutes(self)
        check = KopsFunction(
            self,
            "Function",
            handler="kops_lambda.handlers.drift_check.handler",
            description=f"{PRODUCT}: compare every onboarded cluster with what onboarding made",
            code=code,
            timeout=DRIFT_TIMEOUT,
            reserved_concurrency=1,  # one run at a time: each writes every cluster's result
            environment={
                ENV_REGISTRY_TABLE: registry.table_name,
                ENV_SPOT_HANDLER_ROLE_ARN: spot_handler_role_arn,
                ENV_SPOT_FORCE_DELETE: str(spot_force_delete).lower(),
                ENV_AGENT_API_URL: agent_api_url,
                ENV_SEED_SPOT_ROLE_POLICIES: str(seed_spot_role_policies).lower(),
                **{drift_secret_readers_env(kind): ",".join(arns) for kind, arns in secret_readers.items()},
            },
            network=network,
        )
        self.function = check.function
        self.role = check.role
        self.period = Duration.minutes(minutes)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"{PRODUCT}: check the onboarded clusters for drift every {minutes} minutes",
            schedule=events.Schedule.rate(self.period),
            # A missed run is not worth a retry: the next one comes within the period.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        grant_cluster_access(self, self.function, secrets_key)
        for statement in [
            *discovery_statements(self, state_store_bucket_arns),
            *plan_statements(self),
            *drift_statements(self, registry=registry.table_arn),
        ]:
            self.role.add_to_principal_policy(statement)

    def metric(self, name: str) -> cloudwatch.Metric:
        """A per-run count (one run per period, so Maximum is that run's)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": PRODUCT},
            statistic="Maximum",
            period=self.period,
        )

    def alarms(self) -> Mapping[str, tuple[cloudwatch.IMetric, str]]:
        """For Operations: drift found, and drift that widens access (each cluster's kinds in the registry)."""
        return {
            "ClusterDrift": (
                self.metric("DriftedClusters"),
                "onboarded clusters drifted from what onboarding made (kops-onboard status CLUSTER; rerun onboard)",
            ),
            "AccessWideningDrift": (
                self.metric("AccessWideningClusters"),
                "drift that widens access on onboarded clusters (a policy, key, mapping group or RBAC rule added)",
            ),
            "DriftCheckFailed": (
                self.metric("DriftCheckFailures"),
                "onboarded clusters could not be checked for drift (reason in the check's log and the registry)",
            ),
        }
