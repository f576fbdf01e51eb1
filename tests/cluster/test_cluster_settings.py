"""The in-cluster step functions' environment: optional values, defaults, typed errors."""

import pytest

from kops_lambda.constants import AGENT_API_URL_DEFAULT
from kops_lambda.errors import InvalidInput
from kops_lambda.logic.cluster.settings import load_cluster_settings


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = load_cluster_settings({})
    assert (settings.spot_handler_role_arn, settings.agent_api_url, settings.spot_force_delete) == (
        None,
        AGENT_API_URL_DEFAULT,
        False,
    )


def test_the_force_delete_opt_in_is_read_as_the_spot_handler_reads_it() -> None:
    assert load_cluster_settings({"SPOT_FORCE_DELETE": "true"}).spot_force_delete is True
    assert load_cluster_settings({"SPOT_FORCE_DELETE": "false"}).spot_force_delete is False


def test_a_bad_value_is_a_typed_error_naming_the_setting() -> None:
    with pytest.raises(InvalidInput, match="spot_force_delete"):
        load_cluster_settings({"SPOT_FORCE_DELETE": "sometimes"})
