"""cfn-lint on the synthesized templates: clean except W3005 (redundant DependsOn that CDK emits)."""

from pathlib import Path

from aws_cdk import cx_api
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from kops_lambda.constants import spot_forwarder_stack_name


def test_template_is_cfn_lint_clean(template_path: Path) -> None:
    matches = lint_file(template_path, config=ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_a_spot_forwarder_template_is_cfn_lint_clean(spot_regions_assembly: cx_api.CloudAssembly) -> None:
    forwarder = spot_regions_assembly.get_stack_by_name(spot_forwarder_stack_name("eu-west-1"))
    matches = lint_file(
        Path(forwarder.template_full_path), config=ManualArgs(ignore_checks=["W3005"], regions=["eu-west-1"])
    )
    assert [str(m) for m in matches] == []
