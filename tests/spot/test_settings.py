"""The Spot handler's settings: environment in, validated, and the environment the stack writes."""

import pytest

from kops_lambda.errors import InvalidSettings
from kops_lambda.settings import (
    SpotAction,
    SpotSettings,
    load_event_origin,
    load_spot_regions,
    load_spot_settings,
    parse_regions,
)


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


def test_the_lifecycle_hook_name_keeps_its_case_and_actions_do_not_need_theirs() -> None:
    settings = load_spot_settings({"SPOT_LIFECYCLE_HOOK_NAME": "Kops-Drain/Nodes", "SPOT_LIFECYCLE_ACTION": "CORDON"})
    assert (settings.lifecycle_hook_name, settings.lifecycle_action) == ("Kops-Drain/Nodes", SpotAction.CORDON)
    assert load_spot_settings(settings.environment()) == settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPOT_WARNING_ACTION", "explode"),
        ("SPOT_DEADLINE_MARGIN_SECONDS", "-1"),
        ("SPOT_EVICTION_CONCURRENCY", "0"),
        ("SPOT_EARLY_REPLACEMENT", "maybe"),
        ("SPOT_LIFECYCLE_HOOK_NAME", "no spaces"),
        ("SPOT_CAPACITY_RESERVATION_ACTION", "evict"),
    ],
)
def test_values_outside_the_documented_ones_are_refused(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings):
        load_spot_settings({variable: value})


@pytest.mark.parametrize(
    "value",
    [
        "us-east-1,eu-west-1",
        " us-east-1 , eu-west-1,",
        ["us-east-1", "eu-west-1"],
        ("us-east-1", "eu-west-1", "us-east-1"),
    ],
)
def test_regions_come_as_a_list_or_a_comma_separated_string(value: object) -> None:
    assert parse_regions(value, setting="spotRegions") == ("us-east-1", "eu-west-1")


@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1", "ap-southeast-4", "il-central-1", "us-iso-east-1"])
def test_every_partition_s_region_names_are_accepted(region: str) -> None:
    assert parse_regions(region, setting="spotRegions") == (region,)


@pytest.mark.parametrize("value", ["us-east", "us-east-1a", "US-EAST-1", "*", "us-east-1;eu-west-1", [None], 3])
def test_anything_but_region_names_is_refused_naming_the_setting(value: object) -> None:
    with pytest.raises(InvalidSettings, match=r"^spotRegions"):
        parse_regions(value, setting="spotRegions")


def test_covered_regions_are_the_stack_s_or_the_home_region_alone() -> None:
    assert load_spot_regions("us-east-1", {"SPOT_REGIONS": "us-east-1,eu-west-1"}) == ("us-east-1", "eu-west-1")
    assert load_spot_regions("us-east-1", {}) == ("us-east-1",)
    with pytest.raises(InvalidSettings, match=r"^SPOT_REGIONS"):
        load_spot_regions("us-east-1", {"SPOT_REGIONS": "eu-west-1,*"})


def test_the_accepted_origin_is_the_stacks_account_and_regions() -> None:
    origin = load_event_origin("us-east-1", {"SPOT_ACCOUNT_ID": "123456789012", "SPOT_REGIONS": "us-east-1,eu-west-1"})
    assert (origin.account, origin.regions) == ("123456789012", ("us-east-1", "eu-west-1"))
    assert load_event_origin("eu-west-1", {"SPOT_ACCOUNT_ID": "123456789012"}).regions == ("eu-west-1",)


@pytest.mark.parametrize("value", [None, "", "12345", "not-an-account"])
def test_without_the_stacks_account_no_event_can_be_checked(value: str | None) -> None:
    environ = {} if value is None else {"SPOT_ACCOUNT_ID": value}
    with pytest.raises(InvalidSettings, match="SPOT_ACCOUNT_ID"):
        load_event_origin("us-east-1", environ)
