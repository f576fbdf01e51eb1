"""The onboarding workflow: one Lambda task per step, each with named retries and a catch."""

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kops_lambda.constants import ONBOARDING_STEPS, PRODUCT
from kops_lambda.errors import RETRYABLE_ERROR_NAMES
from stacks.constructs.lambda_function import LOG_RETENTION, KopsFunction

# Transient failures of the Lambda service itself (not of our code).
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]

HANDLERS = {
    "ValidateCluster": "kops_lambda.handlers.validate_cluster.handler",
    "RecordOnboarded": "kops_lambda.handlers.record_onboarded.handler",
}
PENDING_HANDLER = "kops_lambda.handlers.pending_step.handler"


class OnboardingWorkflow(Construct):
    """State machine and step functions of credential onboarding."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        registry: dynamodb.ITable,
        state_store_bucket_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {"REGISTRY_TABLE_NAME": registry.table_name}
        self.functions: dict[str, lambda_.Function] = {}
        for state_name, _ in ONBOARDING_STEPS:
            step = KopsFunction(
                self,
                f"{state_name}Function",
                handler=HANDLERS.get(state_name, PENDING_HANDLER),
                description=f"{PRODUCT} onboarding step {state_name}",
                code=code,
                environment={**environment, "STEP_NAME": state_name},
            )
            self.functions[state_name] = step.function

        validate = self.functions["ValidateCluster"]
        validate.add_to_role_policy(
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
            )
        )
        validate.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadKopsVersionAndSpec",
                actions=["s3:GetObject"],
                resources=[
                    f"{arn}/*/{key}" for arn in state_store_bucket_arns for key in ("kops-version.txt", "config")
                ],
            )
        )
        registry.grant_read_write_data(validate)
        registry.grant_read_write_data(self.functions["RecordOnboarded"])

        failed = sfn.Fail(
            self, "OnboardingFailed", comment="A step failed", error_path="$.error.Error", cause_path="$.error.Cause"
        )
        start = sfn.Pass(self, "Start", parameters={"input.$": "$"}, comment="Keep the input under $.input")
        chain: sfn.INextable = start
        definition: sfn.IChainable = start
        for state_name, result_key in ONBOARDING_STEPS:
            task = self._step(state_name, result_key, failed)
            chain.next(task)
            chain = task
        chain.next(sfn.Succeed(self, "Onboarded"))

        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.minutes(30),
            tracing_enabled=True,
            # ERROR level without execution data: inputs/outputs never reach the logs.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ERROR, include_execution_data=False),
        )

    def _step(self, state_name: str, result_key: str, failed: sfn.IChainable) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_name,
            lambda_function=self.functions[state_name],
            payload=sfn.TaskInput.from_object(
                {"execution_id": sfn.JsonPath.execution_id, "state": sfn.JsonPath.entire_payload}
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=f"$.{result_key}",
        )
        task.add_retry(
            errors=list(RETRYABLE_ERROR_NAMES),
            interval=Duration.seconds(2),
            max_attempts=5,
            backoff_rate=2,
            max_delay=Duration.seconds(30),
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS,
            interval=Duration.seconds(1),
            max_attempts=3,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        return task
