"""`synthesize()` reuses the assembly on disk only while its inputs and the files it wrote are unchanged."""

import shutil
from pathlib import Path

import pytest

from stacks import app_builder
from stacks.app_builder import synth_inputs_digest, synthesize


def _no_synth(*_: object, **__: object) -> None:
    raise AssertionError("synthesized again")


def _copy_of_assembly(template_path: Path, target: Path) -> Path:
    """The session's assembly in `target`: its record, templates and manifests copied, asset folders linked."""
    source = template_path.parent
    for file in [*source.glob("*.json"), source / ".synth-inputs.json"]:
        shutil.copy2(file, target / file.name)
    for asset in source.glob("asset.*"):
        (target / asset.name).symlink_to(asset)
    return target / template_path.name


def test_a_second_synth_with_the_same_inputs_returns_the_template_without_synthesizing(
    template_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the session's synth, When the app is synthesized again with nothing changed
    monkeypatch.setattr(app_builder, "build_app", _no_synth)
    # Then the same template comes back, and no app was built
    assert synthesize() == template_path


def test_other_inputs_or_a_template_edited_on_disk_mean_a_new_synth(template_path: Path, tmp_path: Path) -> None:
    # Given a copy of the session's assembly, which is reused as it is
    template = _copy_of_assembly(template_path, tmp_path)
    inputs = synth_inputs_digest(region=None, spot_regions=())
    assert app_builder._unchanged_assembly(tmp_path, inputs) == template
    # When another synth's inputs are asked for, Then it is not reused
    assert app_builder._unchanged_assembly(tmp_path, synth_inputs_digest(region="eu-west-1", spot_regions=())) is None
    # When something else rewrote the template (a `cdk synth -c ...` into the same folder), Then neither
    template.write_text(template.read_text() + " ")
    assert app_builder._unchanged_assembly(tmp_path, inputs) is None


def test_a_missing_asset_means_a_new_synth(template_path: Path, tmp_path: Path) -> None:
    _copy_of_assembly(template_path, tmp_path)
    inputs = synth_inputs_digest(region=None, spot_regions=())
    next(tmp_path.glob("asset.*")).unlink()
    assert app_builder._unchanged_assembly(tmp_path, inputs) is None


def test_the_inputs_cover_the_environment_the_app_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    before = synth_inputs_digest(region=None, spot_regions=())
    monkeypatch.setenv("CDK_DEFAULT_REGION", "ap-southeast-2")
    assert synth_inputs_digest(region=None, spot_regions=()) != before
