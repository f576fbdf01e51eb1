"""Builds the CDK app; shared by app.py, the local system and the tests."""

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk

from kops_lambda.constants import spot_forwarder_stack_name
from stacks.kops_onboard_stack import KopsOnboardStack
from stacks.nag import apply_nag
from stacks.spot import SPOT_REGIONS_CONTEXT
from stacks.spot_forwarder import SpotForwarderStack

STACK_NAME = "KopsOnboard"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTDIR = PROJECT_ROOT / "cdk.out"
# A synth with spotRegions (`local up --spot-regions`, tests) keeps the default synth's templates as they are.
SPOT_REGIONS_OUTDIR = DEFAULT_OUTDIR / "spot-regions"
# Likewise a synth with the access-key rotation on (the tests' accessKeyRotation* context).
ACCESS_KEY_ROTATION_OUTDIR = DEFAULT_OUTDIR / "access-key-rotation"
# What a synth reads besides its arguments: when none of it changed, the assembly on disk is reused (each test
# worker, `make demo` and `local up` would otherwise synthesize the same app again, 10-20 s each).
SYNTH_INPUTS = ("app.py", "cdk.json", "requirements.txt", "requirements-dev.txt", "stacks", "lambdas")
SYNTH_ENVIRONMENT = ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CDK_OUTDIR")
_SYNTH_RECORD = ".synth-inputs.json"


def build_app(
    outdir: str | os.PathLike[str] | None = None,
    context: dict[str, object] | None = None,
    *,
    region: str | None = None,
) -> cdk.App:
    """The product's stack in `region` (default CDK_DEFAULT_REGION; none: environment-agnostic) and a Spot
    forwarder stack in each other region of context spotRegions."""
    # The CDK CLI passes its output directory in CDK_OUTDIR; without the CLI, default to cdk.out.
    app = cdk.App(
        outdir=str(outdir or os.environ.get("CDK_OUTDIR") or DEFAULT_OUTDIR),
        context=context or _cdk_json_context(),
    )
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    home = KopsOnboardStack(
        app,
        STACK_NAME,
        description="kops-onboard: onboard kOps clusters and handle their Spot interruptions",
        env=cdk.Environment(account=account, region=region or os.environ.get("CDK_DEFAULT_REGION")),
    )
    for spot_region in home.spot_regions[1:]:
        SpotForwarderStack(
            app,
            spot_forwarder_stack_name(spot_region),
            description=f"kops-onboard: forward {spot_region} Spot interruption events to {home.region}",
            env=cdk.Environment(account=account, region=spot_region),
            home_region=home.region,
        )
    apply_nag(app, spot_regions=home.spot_regions)
    return app


def synthesize(
    outdir: str | os.PathLike[str] | None = None,
    *,
    region: str | None = None,
    spot_regions: Sequence[str] = (),
    context: Mapping[str, str] | None = None,
) -> Path:
    """Synthesize the app; returns the stack's template path (a forwarder's is beside it, named by
    `spot_forwarder_stack_name`). `spot_regions` other than the home `region` need that region. `context`:
    values over cdk.json's (as `-c key=value`).

    Synths into one output directory are serialized (tests, the demo and `local up` may run at once).
    """
    target = Path(outdir or os.environ.get("CDK_OUTDIR") or DEFAULT_OUTDIR)
    target.mkdir(parents=True, exist_ok=True)
    extra: dict[str, object] = dict(context or {})
    if spot_regions:
        extra[SPOT_REGIONS_CONTEXT] = list(spot_regions)
    inputs = synth_inputs_digest(region=region, spot_regions=spot_regions, context=context)
    with (target / ".synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reused = _unchanged_assembly(target, inputs)
        if reused is not None:
            return reused
        assembly = build_app(target, _cdk_json_context() | extra if extra else None, region=region).synth()
        template = Path(assembly.get_stack_by_name(STACK_NAME).template_full_path)
        prune_stale_assets(template.parent)
        _record_assembly(target, inputs, template)
    return template


def synth_inputs_digest(
    *, region: str | None, spot_regions: Sequence[str], context: Mapping[str, str] | None = None
) -> str:
    """A digest of the arguments, the environment and every file a synth of this app reads."""
    digest = hashlib.sha256()
    settings = {"region": region, "spot_regions": list(spot_regions), "context": dict(context or {})}
    settings |= {name: os.environ.get(name) for name in SYNTH_ENVIRONMENT}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name in SYNTH_INPUTS:
        path = PROJECT_ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _assembly_digest(outdir: Path) -> str:
    """The templates and asset manifests as they are on disk (anything else writing there changes it)."""
    digest = hashlib.sha256()
    for file in sorted([*outdir.glob("*.template.json"), *outdir.glob("*.assets.json")]):
        digest.update(file.name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _unchanged_assembly(outdir: Path, inputs: str) -> Path | None:
    """The template of the last synth into `outdir` if it had these inputs and nothing changed it since."""
    try:
        record = json.loads((outdir / _SYNTH_RECORD).read_text())
    except (OSError, ValueError):
        return None
    template = outdir / str(record.get("template", ""))
    if record.get("inputs") != inputs or not template.is_file() or record.get("assembly") != _assembly_digest(outdir):
        return None
    assets = [
        outdir / asset["source"]["path"]
        for manifest in outdir.glob("*.assets.json")
        for asset in json.loads(manifest.read_text()).get("files", {}).values()
    ]
    return template if all(asset.exists() for asset in assets) else None


def _record_assembly(outdir: Path, inputs: str, template: Path) -> None:
    record = {"inputs": inputs, "template": template.name, "assembly": _assembly_digest(outdir)}
    (outdir / _SYNTH_RECORD).write_text(json.dumps(record))


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
