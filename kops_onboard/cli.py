"""The `kops-onboard` command line.

Exit codes: 0 success; 1 the execution failed (or timed out); 2 bad usage or input; 3 something the
command looks up is not deployed or does not exist; 4 AWS could not be reached or refused the call.
"""

import enum
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kops_onboard.commands.options import Output, SimulateVia

if TYPE_CHECKING:
    from kops_local.seed import ClusterSpec

app = typer.Typer(
    help="Onboard kOps clusters on AWS to the cost-optimization service and keep their Spot nodes safe.\n\n"
    "Works against real AWS (usual credentials, profile and region) and against the local system "
    "(`kops-onboard local up`, then AWS_ENDPOINT_URL).",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help and tracebacks: rich's rendering costs more than everything else `--help` does.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(
    help="Run the whole system locally: moto for AWS, an API emulator per cluster.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(local_app, name="local")

DEFAULT_CLUSTER = "demo.k8s.local"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="text for people, json for scripts.")]
RegionOption = Annotated[str | None, typer.Option(help="AWS region (default: the usual AWS configuration).")]
ClusterRegionOption = Annotated[
    str | None,
    typer.Option(
        help="Region the cluster is in, when not the deployment's (--region): one the deployment's Spot rules "
        "cover (context spotRegions)."
    ),
]


ClusterArgument = Annotated[
    str, typer.Argument(metavar="CLUSTER", help="kOps cluster name, e.g. prod.k8s.example.com.")
]
KubeconfigSecretOption = Annotated[
    str | None,
    typer.Option(help="Secret holding the cluster's kubeconfig (default: kops-onboard/clusters/CLUSTER/kubeconfig)."),
]
AgentApiKeySecretOption = Annotated[
    str | None, typer.Option(help="Secret holding the agent's API key (default: kops-onboard/agent-api-key).")
]
StateStoreOption = Annotated[str | None, typer.Option(help="kOps state store, e.g. s3://my-kops-state.")]
IdentityModeOption = Annotated[
    str | None,
    typer.Option(
        help="authenticator, service-account or auto (default: auto, the authenticator where the cluster runs one)."
    ),
]
OnboardingMachineOption = Annotated[str | None, typer.Option(help="Onboarding state machine ARN (default: found).")]


@app.command()
def onboard(
    cluster: ClusterArgument,
    region: RegionOption = None,
    cluster_region: ClusterRegionOption = None,
    kubeconfig_secret: KubeconfigSecretOption = None,
    agent_api_key_secret: AgentApiKeySecretOption = None,
    state_store: StateStoreOption = None,
    rotate_access_key: Annotated[bool, typer.Option(help="Replace the stored access key with a new one.")] = False,
    allow_s3_read: Annotated[bool, typer.Option(help="Also attach AmazonS3ReadOnlyAccess (see README).")] = False,
    identity_mode: IdentityModeOption = None,
    state_machine: OnboardingMachineOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to follow the execution.")] = 900.0,
    output: OutputOption = Output.TEXT,
) -> None:
    """Validate the input, start an onboarding execution and follow it step by step."""
    from kops_onboard.commands.onboarding import OnboardOptions, run_onboard

    run_onboard(
        OnboardOptions(
            cluster=cluster,
            region=region,
            cluster_region=cluster_region,
            kubeconfig_secret=kubeconfig_secret,
            agent_api_key_secret=agent_api_key_secret,
            state_store=state_store,
            rotate_access_key=rotate_access_key,
            allow_s3_read=allow_s3_read,
            identity_mode=identity_mode,
        ),
        state_machine=state_machine,
        timeout=timeout,
        output=output,
    )


@app.command()
def plan(
    cluster: ClusterArgument,
    region: RegionOption = None,
    cluster_region: ClusterRegionOption = None,
    kubeconfig_secret: KubeconfigSecretOption = None,
    agent_api_key_secret: AgentApiKeySecretOption = None,
    state_store: StateStoreOption = None,
    rotate_access_key: Annotated[bool, typer.Option(help="Plan a new access key replacing the stored one.")] = False,
    allow_s3_read: Annotated[bool, typer.Option(help="Plan with AmazonS3ReadOnlyAccess attached too.")] = False,
    identity_mode: IdentityModeOption = None,
    show_documents: Annotated[bool, typer.Option(help="Print the IAM documents in full in the text form.")] = False,
    state_machine: OnboardingMachineOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to follow the execution.")] = 300.0,
    output: OutputOption = Output.TEXT,
) -> None:
    """Show what onboarding would create, update or refuse for the cluster, per resource; writes nothing."""
    from kops_onboard.commands.onboarding import OnboardOptions
    from kops_onboard.commands.plan import run_plan

    run_plan(
        OnboardOptions(
            cluster=cluster,
            region=region,
            cluster_region=cluster_region,
            kubeconfig_secret=kubeconfig_secret,
            agent_api_key_secret=agent_api_key_secret,
            state_store=state_store,
            rotate_access_key=rotate_access_key,
            allow_s3_read=allow_s3_read,
            identity_mode=identity_mode,
        ),
        show_documents=show_documents,
        state_machine=state_machine,
        timeout=timeout,
        output=output,
    )


@app.command()
def offboard(
    cluster: Annotated[str, typer.Argument(metavar="CLUSTER", help="kOps cluster name to offboard.")],
    region: RegionOption = None,
    cluster_region: ClusterRegionOption = None,
    secret_recovery_days: Annotated[
        int | None, typer.Option(help="Recovery window of the deleted secrets: 7-30 days, 0 = at once (default 7).")
    ] = None,
    skip_cluster_cleanup: Annotated[
        bool, typer.Option(help="Leave in-cluster objects alone (the cluster is gone or unreachable).")
    ] = False,
    state_machine: Annotated[str | None, typer.Option(help="Offboarding state machine ARN (default: found).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to follow the execution.")] = 900.0,
    output: OutputOption = Output.TEXT,
) -> None:
    """Remove what onboarding made for the cluster (shared objects with the last cluster)."""
    from kops_onboard.commands.offboarding import run_offboard

    run_offboard(
        cluster=cluster,
        region=region,
        cluster_region=cluster_region,
        secret_recovery_days=secret_recovery_days,
        skip_cluster_cleanup=skip_cluster_cleanup,
        state_machine=state_machine,
        timeout=timeout,
        output=output,
    )


@app.command()
def status(
    cluster: Annotated[
        str | None, typer.Argument(metavar="CLUSTER", help="One cluster; all clusters when omitted.")
    ] = None,
    region: RegionOption = None,
    output: OutputOption = Output.TEXT,
) -> None:
    """Show the registry: clusters, their state and last execution."""
    from kops_onboard.commands.status import run_status

    run_status(cluster=cluster, region=region, output=output)


@app.command("simulate-spot")
def simulate_spot(
    instance_id: Annotated[
        str, typer.Argument(metavar="INSTANCE_ID", help="EC2 instance id, e.g. i-0123456789abcdef0.")
    ],
    rebalance: Annotated[bool, typer.Option(help="Send a rebalance recommendation instead of a warning.")] = False,
    region: RegionOption = None,
    cluster_region: ClusterRegionOption = None,
    via: Annotated[
        SimulateVia,
        typer.Option(
            help="bus: put it on EventBridge as EC2 would (local only: AWS refuses aws.ec2 events from accounts); "
            "handler: invoke the Spot handler with it as an SQS record; auto: bus locally, handler on AWS."
        ),
    ] = SimulateVia.auto,
    output: OutputOption = Output.TEXT,
) -> None:
    """Put a realistic EC2 Spot interruption warning for the instance where the handler receives it."""
    from kops_onboard.commands.spot import run_simulate_spot

    run_simulate_spot(
        instance_id=instance_id,
        rebalance=rebalance,
        region=region,
        cluster_region=cluster_region,
        via=via,
        output=output,
    )


@app.command()
def schema(output: OutputOption = Output.JSON) -> None:
    """Print the JSON Schema of the onboarding execution input."""
    from kops_lambda.models.onboarding import OnboardInput

    typer.echo(json.dumps(OnboardInput.model_json_schema(), indent=2 if output is Output.TEXT else None))


def _cluster_specs(values: list[str] | None) -> list["ClusterSpec"]:
    from kops_local.seed import ClusterSpec, InvalidClusterSpec

    try:
        return [ClusterSpec.parse(value) for value in (values or [DEFAULT_CLUSTER])]
    except InvalidClusterSpec as exc:
        raise typer.BadParameter(str(exc), param_hint="--cluster") from None


class KubeChoice(enum.StrEnum):
    emulator = "emulator"
    real = "real"


@local_app.command("up")
def local_up(
    port: Annotated[int, typer.Option(help="Port of the local AWS endpoint (0 picks a free one).")] = 0,
    cluster: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster",
            help="Cluster to seed, repeatable: NAME[:kops=1.21,networking=kube-router,nodes=3,pods=10,"
            "spot=2,auth=eksconfigmap,naming=id,region=us-west-2] (region: default --region).",
        ),
    ] = None,
    region: Annotated[str, typer.Option(help="Region of the local account.")] = "us-east-1",
    spot_regions: Annotated[
        str | None,
        typer.Option(
            help="Regions the deployment's Spot rules cover, comma-separated (default: --region alone); each "
            "other one gets the Spot forwarder stack (the app is synthesized with that spotRegions)."
        ),
    ] = None,
    template: Annotated[
        Path | None, typer.Option(help="Use this synthesized template instead of synthesizing the app.")
    ] = None,
    kube: Annotated[
        KubeChoice,
        typer.Option(
            help="Each cluster's API server: our emulator, or a real kube-apiserver + kube-controller-manager "
            "(built from source by `make kube-bin`, here first if missing)."
        ),
    ] = KubeChoice.emulator,
) -> None:
    """Start the local system in the foreground; print one JSON line describing it; stop on Ctrl-C."""
    from kops_lambda.errors import InvalidSettings
    from kops_lambda.settings import parse_regions
    from kops_local.system import LocalSystem
    from stacks.app_builder import SPOT_REGIONS_OUTDIR, synthesize

    specs = _cluster_specs(cluster)
    try:
        covered = parse_regions(spot_regions or "", setting="--spot-regions")
    except InvalidSettings as exc:
        raise typer.BadParameter(str(exc), param_hint="--spot-regions") from None
    if template is None:
        template = synthesize(SPOT_REGIONS_OUTDIR, region=region, spot_regions=covered) if covered else synthesize()
    system = LocalSystem(template=template, port=port, region=region, kube=kube.value, spot_regions=covered)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    system.start()
    try:
        for spec in specs:
            system.add_cluster(spec)
        print(json.dumps(system.announcement()), flush=True)
        typer.echo("local system ready; Ctrl-C stops it", err=True)
        # Woken every half second: the kernel may deliver SIGINT to any of our threads, and Python runs the
        # handler only when the main thread next runs bytecode, which a lock wait without timeout never does.
        while not stop.wait(timeout=0.5):
            pass
    finally:
        system.stop()


@local_app.command("demo")
def local_demo() -> None:
    """Run the story end to end on the local system and print what happened."""
    from kops_onboard.demo import run_demo

    sys.exit(run_demo())


def main() -> None:
    app()
