"""What an EventBridge target receives: the AWS-shaped event, or its Input / InputPath / InputTransformer.

Paths (InputPath, InputPathsMap values) support `$` and dotted paths such as `$.detail.instance-id`; bracket
and wildcard JSONPath raise ValueError (delivery to that target is then skipped and logged).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

_AWS_EVENT_KEYS = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _iso_time(value: Any) -> Any:
    # moto keeps `time` as epoch seconds internally; AWS delivers ISO-8601 UTC.
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def aws_event_shape(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to targets: AWS keys only (no moto extras), ISO `time`."""
    shaped = {key: copy.deepcopy(event[key]) for key in _AWS_EVENT_KEYS if key in event}
    if "replay-name" in event:
        shaped["replay-name"] = event["replay-name"]
    shaped["time"] = _iso_time(shaped.get("time"))
    return shaped


def resolve_path(document: Any, path: str) -> Any:
    if path in ("", "$"):
        return document
    if not path.startswith("$.") or any(char in path for char in "[]*"):
        raise ValueError(f"unsupported path {path!r}: only '$' and dotted paths are implemented locally")
    value = document
    for part in path[2:].split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _in_json_string(text: str, end: int) -> bool:
    """Whether position `end` of `text` lies inside a JSON string literal."""
    inside, escaped = False, False
    for char in text[:end]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside


def render_template(template: str, values: dict[str, Any]) -> Any:
    """Fill `<name>` placeholders like EventBridge: JSON values outside quotes, raw text inside them."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        if _in_json_string(template, match.start()):
            text = value if isinstance(value, str) else json.dumps(value)
            return json.dumps(text)[1:-1]
        return json.dumps(value)

    rendered = _PLACEHOLDER.sub(substitute, template)
    try:
        return json.loads(rendered)
    except ValueError:
        return rendered  # a plain-text template is delivered as text


def target_input(
    target: dict[str, Any], event: dict[str, Any], *, rule_name: str, rule_arn: str, transform: bool = True
) -> Any:
    """The JSON-compatible value `target` receives for `event`."""
    shaped = aws_event_shape(event)
    if not transform:
        return shaped
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return resolve_path(shaped, target["InputPath"])
    transformer = target.get("InputTransformer")
    if not transformer:
        return shaped
    values = {name: resolve_path(shaped, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    values.update(
        {
            "aws.events.event": shaped,
            "aws.events.event.json": shaped,
            "aws.events.rule-name": rule_name,
            "aws.events.rule-arn": rule_arn,
            "aws.events.event.ingestion-time": _iso_time(event.get("ingestion-time")),
        }
    )
    return render_template(transformer["InputTemplate"], values)
