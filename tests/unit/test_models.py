"""The execution input model: clear, typed errors that name fields and never echo values."""

import pytest

from kops_lambda.errors import InvalidInput
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.rollback import OffboardInput
from kops_lambda.models.steps import StepRequest, parse_model

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kops-onboard/clusters/a.k8s.local/kubeconfig-AbCdEf"
AGENT = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kops-onboard/agent-api-key-AbCdEf"


def test_valid_input_normalises_the_state_store() -> None:
    parsed = parse_model(
        OnboardInput,
        {
            "cluster_name": "a.k8s.local",
            "kubeconfig_secret_arn": ARN,
            "agent_api_key_secret_arn": AGENT,
            "state_store": "s3://kops-state-x/",
        },
    )
    assert parsed.state_store == "s3://kops-state-x"
    assert parsed.region is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kubeconfig_secret_arn": ARN, "agent_api_key_secret_arn": AGENT}, "cluster_name"),
        (
            {"cluster_name": "UPPER.case", "kubeconfig_secret_arn": ARN, "agent_api_key_secret_arn": AGENT},
            "cluster_name",
        ),
        (
            {
                "cluster_name": "a.k8s.local",
                "kubeconfig_secret_arn": "apiVersion: v1 token: sekret",
                "agent_api_key_secret_arn": AGENT,
            },
            "kubeconfig_secret_arn",
        ),
        (
            {
                "cluster_name": "a.k8s.local",
                "kubeconfig_secret_arn": ARN,
                "agent_api_key_secret_arn": AGENT,
                "region": "mars-1",
            },
            "region",
        ),
        (
            {
                "cluster_name": "a.k8s.local",
                "kubeconfig_secret_arn": ARN,
                "agent_api_key_secret_arn": AGENT,
                "surprise": True,
            },
            "surprise",
        ),
    ],
)
def test_invalid_input_names_the_field_without_its_value(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_model(OnboardInput, payload)
    assert field in str(raised.value)
    assert "sekret" not in str(raised.value)


def test_step_request_requires_the_envelope() -> None:
    with pytest.raises(InvalidInput):
        parse_model(StepRequest, {"state": {}})
    request = parse_model(StepRequest, {"execution_id": "arn:x", "state": {"input": {"cluster_name": "a"}}})
    with pytest.raises(InvalidInput, match="kubeconfig_secret_arn"):
        request.onboard_input()


@pytest.mark.parametrize("value", ["yes", "true", 1, "1"])
@pytest.mark.parametrize(
    ("model", "field"),
    [(OnboardInput, "rotate_access_key"), (OnboardInput, "allow_s3_read"), (OffboardInput, "skip_cluster_cleanup")],
)
def test_booleans_of_the_execution_input_are_json_booleans_only(
    model: type[OnboardInput | OffboardInput], field: str, value: object
) -> None:
    payload = {"cluster_name": "a.k8s.local", "kubeconfig_secret_arn": ARN, "agent_api_key_secret_arn": AGENT}
    if model is OffboardInput:
        payload = {"cluster_name": "a.k8s.local"}
    with pytest.raises(InvalidInput, match=f"{field}: Input should be a valid boolean"):
        parse_model(model, {**payload, field: value})
    assert getattr(parse_model(model, {**payload, field: True}), field) is True


@pytest.mark.parametrize("value", ["AUTO", "Authenticator", "serviceaccount", "service_account", "", 1, None, True])
def test_identity_mode_is_one_of_three_exact_words(value: object) -> None:
    payload = {"cluster_name": "a.k8s.local", "kubeconfig_secret_arn": ARN, "agent_api_key_secret_arn": AGENT}
    with pytest.raises(InvalidInput) as raised:
        parse_model(OnboardInput, {**payload, "identity_mode": value})
    assert "identity_mode: Input should be 'authenticator', 'service-account' or 'auto'" in str(raised.value)
    assert parse_model(OnboardInput, payload).identity_mode == "auto"
    for mode in ("authenticator", "service-account", "auto"):
        assert parse_model(OnboardInput, {**payload, "identity_mode": mode}).identity_mode == mode
