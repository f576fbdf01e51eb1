"""Property-based: whatever arrives from EventBridge, parsing ends in a typed event or InvalidInput."""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kops_lambda.errors import InvalidInput
from kops_lambda.logic.spot.service import parse_interruption_event

WARNING: dict[str, Any] = {
    "version": "0",
    "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
    "detail-type": "EC2 Spot Instance Interruption Warning",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2026-11-25T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0b662ef9931388ba0"],
    "detail": {"instance-id": "i-0b662ef9931388ba0", "instance-action": "terminate"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=15), children, max_size=3),
    max_leaves=10,
)
mutated = st.builds(
    lambda key, value: {**WARNING, key: value},
    st.sampled_from([*WARNING, "extra"]),
    json_values,
)
mutated_detail = st.builds(
    lambda key, value: {**WARNING, "detail": {**WARNING["detail"], key: value}},
    st.sampled_from(["instance-id", "instance-action", "other"]),
    json_values,
)


@given(mutated | mutated_detail | json_values | st.text(max_size=200))
def test_any_body_parses_or_raises_invalid_input(body: Any) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    try:
        event = parse_interruption_event(raw)
    except InvalidInput:
        return
    assert event.detail.instance_id.startswith("i-")


def test_the_unmutated_warning_parses() -> None:
    assert parse_interruption_event(json.dumps(WARNING)).detail.instance_id == "i-0b662ef9931388ba0"
