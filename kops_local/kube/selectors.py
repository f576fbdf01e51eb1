"""Label and field selectors, as in `?labelSelector=` / `?fieldSelector=` and `spec.selector` objects.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated (AND).
Field selectors: `path=v`, `path==v`, `path!=v` on any dotted path (the real server only allows a few
fields per resource; we accept all). A missing field reads as "", booleans as "true"/"false".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*(\S*)\s*$")
_KEY_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"  (equality is "in"/"notin" with one value)
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # notin / != match absent keys


LabelSelector = Sequence[LabelRequirement]


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `( )` value sets."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(text: str) -> list[LabelRequirement]:
    """Parse the string form; raises ValueError on syntax the API server would reject."""
    requirements = []
    for term in _split_terms(text):
        if match := _SET_TERM.match(term):
            key, op, raw = match.groups()
            values = frozenset(v.strip() for v in raw.split(",") if v.strip())
            requirements.append(LabelRequirement(key, op, values))
        elif match := _EQ_TERM.match(term):
            key, op, value = match.groups()
            requirements.append(LabelRequirement(key, "notin" if op == "!=" else "in", frozenset({value})))
        elif match := _KEY_TERM.match(term):
            negated, key = match.groups()
            requirements.append(LabelRequirement(key, "!exists" if negated else "exists"))
        else:
            raise ValueError(f"unable to parse requirement: {term.strip()!r}")
    return requirements


_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> list[LabelRequirement] | None:
    """Convert a `metav1.LabelSelector` object; None for a nil or malformed selector."""
    if selector is None:
        return None
    requirements = [
        LabelRequirement(k, "in", frozenset({str(v)})) for k, v in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        op = _EXPRESSION_OPS.get(expression.get("operator", ""))
        if op is None or "key" not in expression:
            return None
        requirements.append(LabelRequirement(expression["key"], op, frozenset(expression.get("values") or ())))
    return requirements


def labels_match(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in selector)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    value: str
    equal: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.path) == self.value) == self.equal


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str) -> list[FieldRequirement]:
    requirements = []
    for term in re.split(r"(?<!\\),", text):
        if not term.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)(.*)$", term)
        if match is None:
            raise ValueError(f"invalid selector: {term!r}; can't understand {term!r}")
        path, op, value = match.groups()
        requirements.append(FieldRequirement(path, _unescape(value.strip()), op != "!="))
    return requirements


def field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def fields_match(selector: Sequence[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(requirement.matches(obj) for requirement in selector)
