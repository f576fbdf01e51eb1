"""The Spot handler's settings: environment in, validated, and the environment the stack writes."""

import pytest

from kops_lambda.errors import InvalidSettings
from kops_lambda.settings import SpotAction, SpotSettings, load_spot_settings


def test_unset_variables_take_the_documented_defaults() -> None:
    settings = load_spot_settings({})
    assert settings == SpotSettings()
    assert (settings.warning_action, settings.rebalance_action, settings.state_change_action) == (
        SpotAction.DRAIN,
        SpotAction.TAINT,
        SpotAction.DRAIN,
    )
    assert (settings.deadline_margin_seconds, settings.eviction_concurrency) == (15, 32)
    assert (settings.early_replacement, settings.force_delete, settings.dry_run) == (True, False, False)


def test_environment_round_trips() -> None:
    settings = SpotSettings(rebalance_action=SpotAction.CORDON, eviction_concurrency=8, dry_run=True, force_delete=True)
    assert load_spot_settings(settings.environment()) == settings
    assert settings.environment()["SPOT_REBALANCE_ACTION"] == "cordon"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPOT_WARNING_ACTION", "explode"),
        ("SPOT_DEADLINE_MARGIN_SECONDS", "-1"),
        ("SPOT_EVICTION_CONCURRENCY", "0"),
        ("SPOT_EARLY_REPLACEMENT", "maybe"),
    ],
)
def test_values_outside_the_documented_ones_are_refused(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings):
        load_spot_settings({variable: value})
