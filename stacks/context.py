"""Reading list-valued context the same way from cdk.json and from `cdk -c key=value`.

cdk.json gives JSON values; the CLI passes every `-c` value as a string, so a list arrives as its JSON text
(`-c stateStoreBuckets='["a","b"]'`) or comma-separated (`-c stateStoreBuckets=a,b`, one item: `=a`).
"""

import json

from constructs import Construct


class InvalidContext(ValueError):
    """A context value that is not a list of strings; fails the synth, naming the key."""


def context_list(scope: Construct, key: str) -> list[str] | None:
    """The context value of `key` as a list of strings; None when it is not set."""
    value = scope.node.try_get_context(key)
    return None if value is None else parse_list(key, value)


def parse_list(key: str, value: object) -> list[str]:
    """A list of strings from a list, its JSON text or a comma-separated string (items stripped, empty ones
    dropped)."""
    if isinstance(value, str):
        value = _parse_string(key, value)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidContext(f"context {key} must be a list of strings, got {value!r}")
    return [item.strip() for item in value if item.strip()]


def _parse_string(key: str, text: str) -> object:
    if not text.lstrip().startswith("["):
        return text.split(",")
    try:
        parsed: object = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidContext(f"context {key} is not a JSON list: {error}") from error
    return parsed
