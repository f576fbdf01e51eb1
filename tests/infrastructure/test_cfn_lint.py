"""cfn-lint on the synthesized template: clean except W3005 (redundant DependsOn that CDK emits)."""

from pathlib import Path

from cfnlint.api import lint_file
from cfnlint.config import ManualArgs


def test_template_is_cfn_lint_clean(template_path: Path) -> None:
    matches = lint_file(template_path, config=ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"]))
    assert [str(m) for m in matches] == []
