"""The README's workflow diagrams and the input schema file are generated; stale copies fail here."""

import json
from pathlib import Path
from typing import Any

from kops_lambda.models.onboarding import OnboardInput
from kops_onboard.diagram import END_MARKER, START_MARKER, definitions, render_into

ROOT = Path(__file__).resolve().parents[2]


def test_readme_diagrams_match_the_synthesized_state_machines(template_json: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert START_MARKER in readme and END_MARKER in readme
    assert render_into(readme, template_json) == readme, "README diagrams are stale: run `make docs`"
    assert len(definitions(template_json)) >= 1


def test_input_schema_file_matches_the_model() -> None:
    committed = json.loads((ROOT / "docs" / "execution-input.schema.json").read_text())
    assert committed == OnboardInput.model_json_schema(), "schema is stale: run `make docs`"
