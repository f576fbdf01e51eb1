"""Property-based: whatever a console sends, the first step answers with a typed error or proceeds;
no unhandled exception, and nothing is written to AWS."""

import json
import time
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from kops_lambda.errors import KopsOnboardError
from kops_lambda.handlers import validate_cluster
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.steps import parse_model
from kops_local.aws import LambdaContext
from kops_local.warm_state import forget_warm_containers

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kops-onboard/clusters/a.k8s.local/kubeconfig-AbCdEf"
VALID: dict[str, Any] = {
    "cluster_name": "a.k8s.local",
    "kubeconfig_secret_arn": ARN,
    "agent_api_key_secret_arn": ARN,
    "state_store": "s3://kops-state-x",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
# Valid inputs with one field replaced, removed or added: closer to real mistakes than pure noise.
mutated = st.builds(
    lambda key, value, drop: {k: v for k, v in {**VALID, key: value}.items() if k != drop},
    st.sampled_from([*VALID, "region", "rotate_access_key", "allow_s3_read", "unknown"]),
    json_values,
    st.sampled_from([None, *VALID]),
)
payloads = mutated | json_values


@given(payloads)
def test_input_model_only_raises_typed_errors(payload: Any) -> None:
    try:
        parsed = parse_model(OnboardInput, payload)
    except KopsOnboardError as exc:
        assert type(exc).__name__ == "InvalidInput"
        return
    assert isinstance(parsed, OnboardInput)


def _context() -> LambdaContext:
    return LambdaContext(
        function_name="validate",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:validate",
        memory_limit_in_mb=512,
        aws_request_id="fuzz",
        log_group_name="/aws/lambda/validate",
        log_stream_name="fuzz",
        deadline_monotonic=time.monotonic() + 60,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_validate_step_never_crashes_and_writes_nothing(payload: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("REGISTRY_TABLE_NAME", "registry")
    forget_warm_containers()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "cluster_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "cluster_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        event = {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:fuzz", "state": {"input": payload}}
        try:
            validate_cluster.handler(event, _context())
        except KopsOnboardError as exc:
            # The account holds no cluster: every input ends in a typed error that names no secret.
            assert type(exc).__name__ in {"InvalidInput", "ClusterNotFound"}
            assert "token" not in json.dumps(str(exc))
        else:
            raise AssertionError("an empty account cannot validate a cluster")
        assert dynamodb.scan(TableName="registry")["Items"] == []
