"""Builds the CDK app; shared by app.py, the local system and the tests."""

import fcntl
import json
import os
import shutil
from pathlib import Path

import aws_cdk as cdk

from stacks.kops_onboard_stack import KopsOnboardStack
from stacks.nag import apply_nag

STACK_NAME = "KopsOnboard"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTDIR = PROJECT_ROOT / "cdk.out"


def build_app(outdir: str | os.PathLike[str] | None = None, context: dict[str, object] | None = None) -> cdk.App:
    # The CDK CLI passes its output directory in CDK_OUTDIR; without the CLI, default to cdk.out.
    app = cdk.App(
        outdir=str(outdir or os.environ.get("CDK_OUTDIR") or DEFAULT_OUTDIR),
        context=context or _cdk_json_context(),
    )
    apply_nag(app)
    KopsOnboardStack(
        app,
        STACK_NAME,
        description="kops-onboard: onboard kOps clusters and handle their Spot interruptions",
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    return app


def synthesize(outdir: str | os.PathLike[str] | None = None) -> Path:
    """Synthesize the app; returns the stack's template path.

    Synths into one output directory are serialized (tests, the demo and `local up` may run at once).
    """
    target = Path(outdir or os.environ.get("CDK_OUTDIR") or DEFAULT_OUTDIR)
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assembly = build_app(target).synth()
        template = Path(assembly.get_stack_by_name(STACK_NAME).template_full_path)
        prune_stale_assets(template.parent)
    return template


def prune_stale_assets(outdir: Path) -> None:
    """CDK keeps every bundle it ever staged (~100 MB each); drop those no manifest references."""
    referenced = {
        asset["source"]["path"]
        for manifest in outdir.glob("*.assets.json")
        for asset in json.loads(manifest.read_text()).get("files", {}).values()
    }
    for staged in outdir.glob("asset.*"):
        if staged.is_dir() and staged.name not in referenced:
            shutil.rmtree(staged, ignore_errors=True)


def _cdk_json_context() -> dict[str, object]:
    # Without the CLI, cdk.json's context is not read by the App: load it so both paths agree.
    cdk_json = PROJECT_ROOT / "cdk.json"
    if "CDK_CONTEXT_JSON" in os.environ or not cdk_json.exists():
        return {}
    context: dict[str, object] = json.loads(cdk_json.read_text()).get("context", {})
    return context
