"""What EventBridge targets receive, computed without a server."""

from __future__ import annotations

import pytest

from kops_local.aws.event_input import aws_event_shape, render_template, resolve_path

MOTO_EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "EC2 Spot Instance Interruption Warning",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": 1767225600.0,
    "region": "us-east-1",
    "resources": [],
    "detail": {"instance-id": "i-1"},
    "ingestion-time": 1767225600.5,
}


def test_event_shape_drops_moto_fields_and_formats_time() -> None:
    # Given moto's internal event (epoch time, ingestion-time)
    # When it is shaped for a target
    shaped = aws_event_shape(MOTO_EVENT)
    # Then only AWS's keys remain and time is ISO-8601 UTC
    assert "ingestion-time" not in shaped
    assert shaped["time"] == "2026-01-01T00:00:00Z"
    assert shaped["detail"] == {"instance-id": "i-1"}


def test_template_quotes_values_outside_strings_and_inlines_them_inside() -> None:
    # Given a template with the same placeholder in both positions
    template = '{"id": <id>, "text": "instance <id> \\"soon\\"", "missing": <nothing>}'
    # When it is rendered
    rendered = render_template(template, {"id": "i-1", "nothing": None})
    # Then it is the JSON EventBridge would produce
    assert rendered == {"id": "i-1", "text": 'instance i-1 "soon"', "missing": None}


def test_unsupported_jsonpath_is_rejected() -> None:
    # Given a bracket path (not implemented locally), When it is resolved, Then it fails loudly
    with pytest.raises(ValueError, match="unsupported path"):
        resolve_path(MOTO_EVENT, "$.detail['instance-id']")
