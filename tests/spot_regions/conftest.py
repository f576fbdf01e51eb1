"""The local system deployed with a second Spot region: the app synthesized with spotRegions, the home stack in
us-east-1 and the Spot forwarder stack in us-west-2 of the same moto server. A package of its own: one local
system per process at a time, and tests/e2e keeps its single-region one."""

from collections.abc import Iterator

import pytest

from kops_local.system import LocalSystem
from stacks.app_builder import SPOT_REGIONS_OUTDIR, synthesize
from tests.e2e.conftest import RETRY_INTERVAL_SCALE
from tests.e2e.secret_scan import assert_no_secret_leaks

HOME_REGION = "us-east-1"
SECOND_REGION = "us-west-2"


@pytest.fixture(scope="package")
def two_region_system() -> Iterator[LocalSystem]:
    template = synthesize(SPOT_REGIONS_OUTDIR, region=HOME_REGION, spot_regions=(HOME_REGION, SECOND_REGION))
    with LocalSystem(
        template=template,
        region=HOME_REGION,
        spot_regions=(HOME_REGION, SECOND_REGION),
        retry_interval_scale=RETRY_INTERVAL_SCALE,
    ) as system:
        yield system
        assert_no_secret_leaks(system)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/spot_regions/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
