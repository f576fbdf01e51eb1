"""List-valued context reads the same from cdk.json (JSON lists) and from `cdk -c key=value` (strings)."""

import aws_cdk as cdk
import pytest

from stacks.context import InvalidContext, context_list


def _read(value: object) -> list[str] | None:
    return context_list(cdk.App(context={"buckets": value}), "buckets")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b-*"], ["a", "b-*"]),  # cdk.json
        ('["a","b-*"]', ["a", "b-*"]),  # -c buckets='["a","b-*"]'
        (' ["a"]', ["a"]),
        ("a", ["a"]),  # -c buckets=a
        ("a, b-*", ["a", "b-*"]),  # -c buckets=a,b-*
        ([], []),
    ],
)
def test_a_list_reads_the_same_from_cdk_json_and_the_command_line(value: object, expected: list[str]) -> None:
    assert _read(value) == expected


def test_an_unset_key_reads_as_none() -> None:
    assert context_list(cdk.App(), "buckets") is None


@pytest.mark.parametrize("value", ['["a",', "[1, 2]", 7, [1], {"a": "b"}])
def test_anything_but_a_list_of_strings_fails_naming_the_key(value: object) -> None:
    with pytest.raises(InvalidContext, match="buckets"):
        _read(value)
