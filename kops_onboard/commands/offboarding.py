"""`kops-onboard offboard`: remove what onboarding made for one cluster, following the execution live."""

from kops_lambda.models.rollback import OffboardInput
from kops_onboard.commands.common import aws_errors, emit
from kops_onboard.commands.options import Output
from kops_onboard.commands.workflow import run_workflow
from kops_onboard.deployment import Deployment


def run_offboard(
    *,
    cluster: str,
    region: str | None,
    cluster_region: str | None,
    secret_recovery_days: int | None,
    skip_cluster_cleanup: bool,
    state_machine: str | None,
    timeout: float,
    output: Output,
) -> None:
    deployment = Deployment(region)
    with aws_errors(output):
        execution_arn, result = run_workflow(
            deployment,
            purpose="offboard",
            model=OffboardInput,
            payload={
                "cluster_name": cluster,
                "region": cluster_region or region or deployment.region_name,
                "secret_recovery_days": secret_recovery_days,
                "skip_cluster_cleanup": skip_cluster_cleanup,
            },
            state_machine=state_machine,
            timeout=timeout,
            output=output,
        )
    emit(output, {"status": "SUCCEEDED", "execution_arn": execution_arn, "result": result}, f"offboarded {cluster}")
