"""An app synthesized with Spot regions besides its own (one synth per session, into its own directory)."""

from pathlib import Path

import pytest
from aws_cdk import cx_api

from stacks.app_builder import _cdk_json_context, build_app

HOME_REGION = "us-east-1"
# As `-c spotRegions=...` gives it: one string, spaces and the home region included.
SPOT_REGIONS_VALUE = "eu-west-1, us-west-2,us-east-1"
FORWARDED_REGIONS = ("eu-west-1", "us-west-2")


@pytest.fixture(scope="session")
def spot_regions_assembly(tmp_path_factory: pytest.TempPathFactory) -> cx_api.CloudAssembly:
    outdir: Path = tmp_path_factory.mktemp("spot-regions")
    app = build_app(outdir, context=_cdk_json_context() | {"spotRegions": SPOT_REGIONS_VALUE}, region=HOME_REGION)
    return app.synth()  # cdk-nag runs here: an unacknowledged finding in any stack raises
