"""The one Lambda factory: runtime, architecture, JSON logs, tracing, timeout, retention, bundling."""

from functools import lru_cache

from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from kops_lambda.constants import METRICS_NAMESPACE, PRODUCT
from stacks.constructs.bundling import LAMBDA_SOURCE, PipLocalBundling, source_hash
from stacks.network import ClusterNetwork

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


@lru_cache(maxsize=1)
def _bundle_hash() -> str:
    return source_hash()


def lambda_code() -> lambda_.Code:
    """One bundled asset for every function (same code, different handlers)."""
    return lambda_.Code.from_asset(
        str(LAMBDA_SOURCE),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_bundle_hash(),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds, and no Docker exists where we synth.
            image=DockerImage.from_registry("local-bundling-only"),
            local=PipLocalBundling(),
        ),
    )


class KopsFunction(Construct):
    """A Python Lambda function of this product, configured the one way we run them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code,
        timeout: Duration = Duration.seconds(60),
        memory_size: int = 512,
        environment: dict[str, str] | None = None,
        reserved_concurrency: int | None = None,
        role: iam.IRole | None = None,
        network: ClusterNetwork | None = None,
    ) -> None:
        """`role`: run as another function's role (the Spot canary must be the Spot handler's identity).
        `network`: run in the clusters' VPC (functions that talk to API servers); its role may then manage the
        function's network interfaces. Without it the function runs outside any VPC."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        # Our own role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
        self.role = role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{PRODUCT}: {description}"[:1000],
        )
        self.log_group.grant_write(self.role)
        if network is not None:
            # Our own role, so CDK adds no AWSLambdaVPCAccessExecutionRole: the same actions, scoped.
            network.grant_network_interfaces(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=code,
            description=description,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            role=self.role,
            reserved_concurrent_executions=reserved_concurrency,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnet_selection if network else None,
            security_groups=network.security_groups if network else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": PRODUCT,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
