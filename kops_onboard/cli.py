"""The `kops-onboard` command line."""

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from kops_onboard.local.seed import ClusterSpec, InvalidClusterSpec

app = typer.Typer(
    help="Onboard kOps clusters on AWS and keep their Spot nodes safe.",
    no_args_is_help=True,
    add_completion=False,
)
local_app = typer.Typer(
    help="Run the whole system locally: moto for AWS, an emulator per cluster.", no_args_is_help=True
)
app.add_typer(local_app, name="local")

DEFAULT_CLUSTER = "demo.k8s.local"


def _cluster_specs(values: list[str] | None) -> list[ClusterSpec]:
    try:
        return [ClusterSpec.parse(value) for value in (values or [DEFAULT_CLUSTER])]
    except InvalidClusterSpec as exc:
        raise typer.BadParameter(str(exc), param_hint="--cluster") from None


@local_app.command("up")
def local_up(
    port: Annotated[int, typer.Option(help="Port of the local AWS endpoint (0 picks a free one).")] = 0,
    cluster: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster",
            help="Cluster to seed, repeatable: NAME[:kops=1.21,networking=kube-router,nodes=3,pods=10,"
            "spot=2,auth=eksconfigmap,naming=id].",
        ),
    ] = None,
    region: Annotated[str, typer.Option(help="Region of the local account.")] = "us-east-1",
    template: Annotated[
        Path | None, typer.Option(help="Use this synthesized template instead of synthesizing the app.")
    ] = None,
) -> None:
    """Start the local system in the foreground; print one JSON line describing it; stop on Ctrl-C."""
    from kops_onboard.local.system import LocalSystem
    from stacks.app_builder import synthesize

    specs = _cluster_specs(cluster)
    system = LocalSystem(template=template or synthesize(), port=port, region=region)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    system.start()
    try:
        for spec in specs:
            system.add_cluster(spec)
        print(json.dumps(system.announcement()), flush=True)
        typer.echo("local system ready; Ctrl-C stops it", err=True)
        stop.wait()
    finally:
        system.stop()


@local_app.command("demo")
def local_demo() -> None:
    """Run the story end to end on the local system and print what happened."""
    from kops_onboard.demo import run_demo

    sys.exit(run_demo())


def main() -> None:
    app()
