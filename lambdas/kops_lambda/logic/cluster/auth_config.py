"""The two identity-mapping formats of aws-iam-authenticator: parse strictly, edit minimally.

* EKSConfigMap backend, ConfigMap `kube-system/aws-auth` (EKS format): keys `mapRoles` and `mapUsers`
  each hold a YAML list as a string, entries `{rolearn|userarn, username, groups}` (lower-case keys);
  `mapAccounts` is a list of account ids we never touch.
* MountedFile backend, ConfigMap `kube-system/aws-iam-authenticator`, key `config.yaml`: one YAML
  document `{clusterID, server: {mapRoles: [{roleARN, ...}], mapUsers: [{userARN, ...}], mapAccounts}}`
  (camelCase, kOps `docs/authentication.md`).

Parsing validates every entry against a typed model and fails closed (`MalformedAuthConfig`, naming
the key and entry, never echoing data) on anything it cannot read. Edits work on the parsed raw dicts,
so other entries keep their unknown fields and key order. Rendering an append inserts the new entry's
text after the sequence's last item, so every other byte of the value (comments included) stays as it
was; the result is re-parsed and must equal the intended document, otherwise (and for in-place updates)
the whole value is re-dumped from the raw data, which keeps content but not comments.

The authenticator compares ARNs case-insensitively (it lower-cases them into its lookup maps), so do we.
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kops_lambda.errors import MalformedAuthConfig

JsonObject = dict[str, Any]
MappingKind = Literal["user", "role"]
Format = Literal["eks", "authenticator"]
UpsertStatus = Literal["added", "updated", "unchanged"]

_ARN_KEYS: dict[tuple[Format, MappingKind], str] = {
    ("eks", "user"): "userarn",
    ("eks", "role"): "rolearn",
    ("authenticator", "user"): "userARN",
    ("authenticator", "role"): "roleARN",
}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, populate_by_name=True)

    username: str | None = None
    groups: list[str] = Field(default_factory=list)


class EksUserEntry(_Entry):
    arn: str = Field(alias="userarn", min_length=1)


class EksRoleEntry(_Entry):
    arn: str = Field(alias="rolearn", min_length=1)


class AuthenticatorUserEntry(_Entry):
    arn: str = Field(alias="userARN", min_length=1)


class AuthenticatorRoleEntry(_Entry):
    arn: str = Field(alias="roleARN", min_length=1)


class AuthenticatorServer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    mapRoles: list[AuthenticatorRoleEntry] | None = None
    mapUsers: list[AuthenticatorUserEntry] | None = None
    mapAccounts: list[str | int] | None = None


class AuthenticatorConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    clusterID: str | None = None
    server: AuthenticatorServer | None = None


_ENTRY_MODELS: dict[tuple[Format, MappingKind], type[_Entry]] = {
    ("eks", "user"): EksUserEntry,
    ("eks", "role"): EksRoleEntry,
    ("authenticator", "user"): AuthenticatorUserEntry,
    ("authenticator", "role"): AuthenticatorRoleEntry,
}


@dataclass(frozen=True)
class DesiredMapping:
    """An IAM principal we map: user (mapUsers) or role (mapRoles), to a username and groups."""

    kind: MappingKind
    arn: str
    username: str
    groups: tuple[str, ...]

    def entry(self, fmt: Format) -> JsonObject:
        return {_ARN_KEYS[(fmt, self.kind)]: self.arn, "username": self.username, "groups": list(self.groups)}


@dataclass(frozen=True)
class Upsert:
    entries: list[JsonObject]
    status: UpsertStatus


def arn_key(fmt: Format, kind: MappingKind) -> str:
    return _ARN_KEYS[(fmt, kind)]


def _load(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise MalformedAuthConfig(f"{where} is not valid YAML{at}") from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def parse_mapping_list(text: str | None, *, fmt: Format, kind: MappingKind, where: str) -> list[JsonObject]:
    """A list of mapping entries (an aws-auth value, or a list taken from config.yaml), validated."""
    data = _load(text, where) if isinstance(text, str) else None
    return validate_mapping_list(data, fmt=fmt, kind=kind, where=where)


def validate_mapping_list(data: Any, *, fmt: Format, kind: MappingKind, where: str) -> list[JsonObject]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise MalformedAuthConfig(f"{where} is not a YAML list")
    model = _ENTRY_MODELS[(fmt, kind)]
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise MalformedAuthConfig(f"{where}: entry {index} is not a mapping")
        try:
            model.model_validate(entry)
        except ValidationError as exc:
            raise MalformedAuthConfig(f"{where}: entry {index}: {_describe(exc)}") from None
    return list(data)


def parse_authenticator_config(text: str | None, *, where: str) -> JsonObject:
    """The config.yaml document as a raw dict (validated); an absent or empty value is `{}`."""
    data = _load(text, where) if isinstance(text, str) else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedAuthConfig(f"{where} is not a YAML mapping")
    try:
        AuthenticatorConfig.model_validate(data)
    except ValidationError as exc:
        raise MalformedAuthConfig(f"{where}: {_describe(exc)}") from None
    return data


def upsert(entries: Sequence[JsonObject], desired: DesiredMapping, *, fmt: Format) -> Upsert:
    """Our entry exactly once, by ARN: appended if absent; if present, its username/groups set (other
    fields kept) and any duplicates for the same ARN removed; untouched when already exact."""
    key = arn_key(fmt, desired.kind)
    wanted = desired.arn.lower()
    matches = [i for i, e in enumerate(entries) if str(e.get(key, "")).lower() == wanted]
    if not matches:
        return Upsert([*entries, desired.entry(fmt)], "added")
    first = entries[matches[0]]
    exact = (
        first.get(key) == desired.arn
        and first.get("username") == desired.username
        and first.get("groups") == list(desired.groups)
    )
    if exact and len(matches) == 1:
        return Upsert(list(entries), "unchanged")
    merged = {**first, key: desired.arn, "username": desired.username, "groups": list(desired.groups)}
    result = [merged if i == matches[0] else e for i, e in enumerate(entries) if i not in matches[1:]]
    return Upsert(result, "updated")


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)


def render(original: str | None, new_value: Any, appended: Sequence[tuple[tuple[str, ...], JsonObject]]) -> str:
    """Text for `new_value`. When the change is only `appended` items (path of the sequence → item),
    they are inserted into `original`'s text so the rest stays byte-identical; otherwise, or when
    insertion cannot be proven right, a full dump."""
    if original and original.strip() and appended:
        text: str | None = original
        for path, item in appended:
            text = _append_item_text(text, path, item) if text is not None else None
        if text is not None and _same(text, new_value):
            return text
    return dump(new_value)


def _same(text: str, expected: Any) -> bool:
    try:
        return bool(yaml.safe_load(text) == expected)
    except yaml.YAMLError:
        return False


def _append_item_text(text: str, path: tuple[str, ...], item: JsonObject) -> str | None:
    """Insert `item` as a new last element of the block sequence at `path` (() = the root)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    if not isinstance(node, yaml.SequenceNode) or node.flow_style or not node.value:
        return None
    dash_column = node.start_mark.column
    end = node.value[-1].end_mark.index
    line_start = text.rfind("\n", 0, end) + 1
    if text[line_start:end].strip():
        # The last item ends mid-line (a scalar): insert after that line.
        newline = text.find("\n", end)
        if newline < 0:
            text += "\n"
            newline = len(text) - 1
        insert_at = newline + 1
    else:
        insert_at = _before_trailing_comments(text, line_start, floor=node.value[-1].start_mark.index)
    if insert_at > len(text):
        return None
    if insert_at == len(text) and text and not text.endswith("\n"):
        text += "\n"
        insert_at = len(text)
    block = "".join(" " * dash_column + line + "\n" for line in dump([item]).splitlines())
    return text[:insert_at] + block + text[insert_at:]


def _before_trailing_comments(text: str, line_start: int, *, floor: int) -> int:
    """Step back over blank and comment-only lines that precede `line_start` (they introduce what
    follows the sequence), never above the last item's first line."""
    position = line_start
    while position > floor:
        previous = text.rfind("\n", 0, position - 1) + 1
        if previous <= floor:
            break
        stripped = text[previous:position].strip()
        if stripped and not stripped.startswith("#"):
            break
        position = previous
    return position


def with_list(document: JsonObject, path: tuple[str, ...], entries: list[JsonObject]) -> JsonObject:
    """A copy of `document` with the list at `path` replaced (intermediate mappings created)."""
    result = copy.deepcopy(document)
    node = result
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = entries
    return result


def list_at(document: JsonObject, path: tuple[str, ...]) -> Any:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node
