"""Undo MapIdentity: our entries in the authenticator's ConfigMaps, our RBAC, the authenticator's roll.

Rollback, per ConfigMap the baseline saw (aws-auth, aws-iam-authenticator, the one the DaemonSet mounts):

* resourceVersion as in the baseline → untouched, nothing to do;
* resourceVersion is the one this execution's MapIdentity wrote (the registry records it with the
  backup) → the backup goes back: the previous value of each key we changed, in one merge patch
  guarded by that resourceVersion (a ConfigMap we created is deleted at that resourceVersion);
* otherwise someone wrote after us, or MapIdentity failed before recording its write → only our
  entries are reverted (the entry the baseline had for our ARN, or none), every other entry stays.
  When the result equals the baseline's value, the baseline's text is written back byte for byte.

Offboarding removes the entries of our ARNs (the cluster's IAM user, the Spot handler's role) wherever
they are, cutting their text out so every other byte stays, then rolls a MountedFile authenticator.

Either way our ClusterRoles and ClusterRoleBindings go (rollback: those the baseline did not have), and so
do our IAMIdentityMapping objects (CRD backend: `kops-onboard-*`, labelled ours; kOps'
`iam-identity-mapping-<n>` and every other object stay). Rollback of one the baseline already had puts
back the labels and spec the registry recorded before our write, if it is still the version we wrote.
"""

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from kops_lambda.constants import (
    AUTHENTICATOR_CONFIG_KEY,
    AUTHENTICATOR_CONFIGMAP,
    AWS_AUTH_CONFIGMAP,
    KUBE_SYSTEM,
)
from kops_lambda.errors import MalformedAuthConfig
from kops_lambda.logic.cluster.auth_config import (
    Format,
    MappingKind,
    arn_key,
    dump,
    list_at,
    parse_authenticator_config,
    parse_mapping_list,
    validate_mapping_list,
    with_list,
)
from kops_lambda.logic.cluster.identity_mapping import (
    mounted_configmap_name,
    roll_authenticator,
    spot_role_mapping,
    user_mapping,
)
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, JsonObject, KubeRest
from kops_lambda.logic.rollback.cluster_state import (
    AUTHENTICATOR_PATH,
    ObjectRef,
    configmap_path,
    delete_ours,
    identity_mapping_refs,
    identity_object_refs,
    labelled_ours,
    restore_annotations,
)
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.cluster import IdentityMappingBackup, IdentityMappingCrdBackup
from kops_lambda.models.rollback import Baseline, CleanupSummary, ConfigMapSnapshot

_EKS_KEYS: dict[MappingKind, str] = {"user": "mapUsers", "role": "mapRoles"}
_AUTHENTICATOR_PATHS: dict[MappingKind, tuple[str, ...]] = {
    "user": ("server", "mapUsers"),
    "role": ("server", "mapRoles"),
}


@dataclass(frozen=True)
class OurArns:
    """The ARNs we map, lower-cased by kind (the authenticator compares them case-insensitively)."""

    user: frozenset[str]
    role: frozenset[str]

    @classmethod
    def of(cls, *, user_arn: str, user_name: str, spot_role_arn: str | None) -> "OurArns":
        roles = frozenset({spot_role_mapping(spot_role_arn).arn.lower()}) if spot_role_arn else frozenset()
        return cls(user=frozenset({user_mapping(user_arn, user_name).arn.lower()}), role=roles)

    def of_kind(self, kind: MappingKind) -> frozenset[str]:
        return self.user if kind == "user" else self.role


def _format_of(name: str) -> Format:
    return "eks" if name == AWS_AUTH_CONFIGMAP else "authenticator"


# ---- Rollback ----


def rollback_identity_mapping(
    rest: KubeRest, baseline: Baseline, *, record: dict[str, Any] | None, spot_role_arn: str | None
) -> CleanupSummary:
    report = Report()
    arns = OurArns.of(user_arn=baseline.aws.user_arn, user_name=baseline.aws.user_name, spot_role_arn=spot_role_arn)
    backup = crd_backup = None
    if record and record.get("execution_id") == baseline.execution_id:
        if record.get("backup"):
            backup = IdentityMappingBackup.model_validate(record["backup"])
        if record.get("crd_backup"):
            crd_backup = IdentityMappingCrdBackup.model_validate(record["crd_backup"])
    for snapshot in baseline.cluster.configmaps:
        _rollback_configmap(rest, snapshot, backup, arns, report)
    mapping_refs = identity_mapping_refs()
    for ref in reversed(identity_object_refs()):
        if not baseline.cluster.existed(ref.kind, ref.namespace, ref.name):
            delete_ours(rest, ref, report)
        elif crd_backup is not None and ref in mapping_refs:
            _restore_identity_mapping(rest, ref, crd_backup, report)
    if baseline.cluster.authenticator_annotations is not None:
        restore_annotations(rest, baseline.cluster.authenticator_annotations, report)
    return report.summary()


def _rollback_configmap(
    rest: KubeRest,
    snapshot: ConfigMapSnapshot,
    backup: IdentityMappingBackup | None,
    arns: OurArns,
    report: Report,
) -> None:
    path = configmap_path(snapshot.name)
    label = f"ConfigMap {KUBE_SYSTEM}/{snapshot.name}"
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = rest.get(path)
        version = str(current["metadata"]["resourceVersion"]) if current else None
        if current is None or version == snapshot.resource_version:
            return
        try:
            if (
                backup is not None
                and backup.configmap == f"{KUBE_SYSTEM}/{snapshot.name}"
                and version == backup.written_resource_version
            ):
                if backup.configmap_created:
                    rest.delete(path, resource_version=version)
                    report.removed.append(label)
                else:
                    patch = {"metadata": {"resourceVersion": version}, "data": dict(backup.previous_values)}
                    rest.merge_patch(path, patch)
                    report.restored.append(f"{label} ({', '.join(sorted(backup.previous_values))} from the backup)")
                return
            _revert_entries(
                rest,
                path,
                current,
                before=snapshot.data,
                existed_before=snapshot.resource_version is not None,
                arns=arns,
                report=report,
                label=label,
            )
            return
        except Conflict:
            continue
    report.kept.append(f"{label}: still changing after {MAX_WRITE_ATTEMPTS} attempts")


def _restore_identity_mapping(rest: KubeRest, ref: ObjectRef, backup: IdentityMappingCrdBackup, report: Report) -> None:
    """Our IAMIdentityMapping back to the labels and spec it had before our write, unless it changed since."""
    saved = next((o for o in backup.objects if o.name == ref.name), None)
    if saved is None or saved.previous is None:
        return
    current = rest.get(ref.path)
    if current is None or str(current["metadata"]["resourceVersion"]) != saved.written_resource_version:
        report.kept.append(f"{ref}: changed after our write, left as is")
        return
    body = copy.deepcopy(current)
    body["metadata"]["labels"] = dict(saved.previous["labels"])
    body["spec"] = dict(saved.previous["spec"])
    try:
        rest.replace(ref.path, body)  # carries the resourceVersion read: a newer write is a 409
    except Conflict:
        report.kept.append(f"{ref}: changed after our write, left as is")
        return
    report.restored.append(f"{ref} (labels and spec from the backup)")


# ---- Offboarding ----


def offboard_identity_mapping(
    rest: KubeRest,
    *,
    user_arn: str,
    user_name: str,
    spot_role_arn: str | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CleanupSummary:
    report = Report()
    arns = OurArns.of(user_arn=user_arn, user_name=user_name, spot_role_arn=spot_role_arn)
    authenticator = rest.get(AUTHENTICATOR_PATH)
    names = [AWS_AUTH_CONFIGMAP, AUTHENTICATOR_CONFIGMAP]
    mounted = mounted_configmap_name(authenticator) if authenticator is not None else AUTHENTICATOR_CONFIGMAP
    if mounted not in names:
        names.append(mounted)
    for name in names:
        path = configmap_path(name)
        label = f"ConfigMap {KUBE_SYSTEM}/{name}"
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = rest.get(path)
            if current is None:
                break
            try:
                written = _revert_entries(
                    rest, path, current, before=None, existed_before=False, arns=arns, report=report, label=label
                )
            except Conflict:
                continue
            # The authenticator reads config.yaml only at start: roll it onto the config as it now is.
            if written is not None and name == mounted and authenticator is not None:
                _roll(rest, written, now=now, report=report)
            break
        else:
            report.kept.append(f"{label}: still changing after {MAX_WRITE_ATTEMPTS} attempts")
    for ref in reversed(identity_object_refs()):
        delete_ours(rest, ref, report)
    return report.summary()


def _roll(rest: KubeRest, config_text: str, *, now: Callable[[], datetime], report: Report) -> None:
    if roll_authenticator(rest, config_text, now=now):
        report.restored.append(f"DaemonSet {KUBE_SYSTEM}/aws-iam-authenticator rolled onto the new config")


# ---- Reverting our entries ----


def _revert_entries(
    rest: KubeRest,
    path: str,
    current: JsonObject,
    *,
    before: dict[str, str] | None,
    existed_before: bool,
    arns: OurArns,
    report: Report,
    label: str,
) -> str | None:
    """Our ARNs' entries as `before` had them (no `before`: none); one merge patch guarded by the
    resourceVersion read (Conflict on 409). Returns config.yaml's new text when it was rewritten."""
    name = current["metadata"]["name"]
    fmt = _format_of(name)
    data: dict[str, str] = dict(current.get("data") or {})
    before_data = before or {}
    try:
        changes = (
            _eks_changes(data, before_data, arns, label)
            if fmt == "eks"
            else _authenticator_changes(data, before_data, arns, label)
        )
    except MalformedAuthConfig as exc:
        report.kept.append(f"{label}: left as is, it does not parse ({exc})")
        return None
    if not changes:
        return None
    remaining = {k: v for k, v in {**data, **changes}.items() if v is not None}
    version = str(current["metadata"]["resourceVersion"])
    if not remaining and labelled_ours(current) and not existed_before:
        rest.delete(path, resource_version=version)
        report.removed.append(label)
        return None
    rest.merge_patch(path, {"metadata": {"resourceVersion": version}, "data": changes})
    report.removed.append(f"{label}: our entries in {', '.join(sorted(changes))}")
    written = changes.get(AUTHENTICATOR_CONFIG_KEY)
    return written if fmt == "authenticator" and written is not None else None


def _eks_changes(data: dict[str, str], before: dict[str, str], arns: OurArns, label: str) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    for kind, key in _EKS_KEYS.items():
        text = data.get(key)
        if text is None or text == before.get(key):
            continue
        entries = parse_mapping_list(text, fmt="eks", kind=kind, where=f"{label} {key}")
        previous = _lenient_list(before.get(key), kind)
        reverted, dropped = _reverted(entries, previous, arns.of_kind(kind), arn_key("eks", kind))
        if reverted == entries:
            continue
        if before.get(key) is not None and reverted == previous:
            changes[key] = before[key]
        elif not reverted and before.get(key) is None:
            changes[key] = None
        elif _only_cut(entries, reverted, dropped):
            changes[key] = _cut_items(text, (), dropped, reverted)
        else:
            changes[key] = dump(reverted)
    return changes


def _authenticator_changes(
    data: dict[str, str], before: dict[str, str], arns: OurArns, label: str
) -> dict[str, str | None]:
    text = data.get(AUTHENTICATOR_CONFIG_KEY)
    before_text = before.get(AUTHENTICATOR_CONFIG_KEY)
    if text is None or text == before_text:
        return {}
    where = f"{label} {AUTHENTICATOR_CONFIG_KEY}"
    document = parse_authenticator_config(text, where=where)
    try:
        previous_document = parse_authenticator_config(before_text, where=where) if before_text else {}
    except MalformedAuthConfig:
        previous_document = {}
    result = document
    cut_text: str | None = text
    for kind, list_path in _AUTHENTICATOR_PATHS.items():
        entries = validate_mapping_list(list_at(result, list_path), fmt="authenticator", kind=kind, where=where)
        previous = _lenient_list(list_at(previous_document, list_path), kind, parsed=True)
        reverted, dropped = _reverted(entries, previous, arns.of_kind(kind), arn_key("authenticator", kind))
        if reverted == entries:
            continue
        if not reverted and list_at(previous_document, list_path) is None:
            result = _without(result, list_path)
            cut_text = None
        else:
            result = with_list(result, list_path, reverted)
            keep_text = cut_text is not None and _only_cut(entries, reverted, dropped)
            cut_text = _cut_item_text(cut_text, list_path, dropped) if keep_text and cut_text else None
    if result == document:
        return {}
    if before_text is not None and result == previous_document:
        return {AUTHENTICATOR_CONFIG_KEY: before_text}
    if cut_text is not None and _parses_to(cut_text, result):
        return {AUTHENTICATOR_CONFIG_KEY: cut_text}
    return {AUTHENTICATOR_CONFIG_KEY: dump(result)}


def _without(document: JsonObject, path: tuple[str, ...]) -> JsonObject:
    """A copy of `document` without the key at `path`."""
    result = copy.deepcopy(document)
    node = result
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            return result
        node = node[key]
    node.pop(path[-1], None)
    return result


def _only_cut(entries: Sequence[JsonObject], reverted: Sequence[JsonObject], dropped: list[int]) -> bool:
    """True when reverting only drops entries (none is replaced by the baseline's version)."""
    return [e for i, e in enumerate(entries) if i not in dropped] == list(reverted)


def _lenient_list(value: Any, kind: MappingKind, *, parsed: bool = False) -> list[JsonObject]:
    """The baseline's list, or none when it does not parse (then our entries are simply removed)."""
    fmt: Format = "authenticator" if parsed else "eks"
    try:
        if parsed:
            return validate_mapping_list(value, fmt=fmt, kind=kind, where="baseline")
        return parse_mapping_list(value, fmt=fmt, kind=kind, where="baseline")
    except MalformedAuthConfig:
        return []


def _reverted(
    entries: Sequence[JsonObject], previous: Sequence[JsonObject], ours: frozenset[str], key: str
) -> tuple[list[JsonObject], list[int]]:
    """(entries with ours as `previous` had them, indices of the entries dropped)."""
    previous_by_arn = {str(e.get(key, "")).lower(): e for e in previous if str(e.get(key, "")).lower() in ours}
    result: list[JsonObject] = []
    dropped: list[int] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        arn = str(entry.get(key, "")).lower()
        if arn not in ours:
            result.append(entry)
        elif arn in previous_by_arn and arn not in seen:
            seen.add(arn)
            result.append(previous_by_arn[arn])
        else:
            dropped.append(index)
    return result, dropped


def _parses_to(text: str, expected: Any) -> bool:
    try:
        return bool(yaml.safe_load(text) == expected)
    except yaml.YAMLError:
        return False


def _cut_items(text: str, path: tuple[str, ...], indices: list[int], expected: list[JsonObject]) -> str:
    """`text` without the block-sequence items at `indices` of the sequence at `path`, every other byte
    kept, when that provably parses to `expected`; else a dump of `expected`."""
    cut = _cut_item_text(text, path, indices)
    if cut is not None and _parses_to(cut, expected):
        return cut
    return dump(expected)


def _cut_item_text(text: str, path: tuple[str, ...], indices: list[int]) -> str | None:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    if not isinstance(node, yaml.SequenceNode) or node.flow_style:
        return None
    items = node.value
    spans = []
    for index in indices:
        start = text.rfind("\n", 0, items[index].start_mark.index) + 1
        newline = text.find("\n", _last_leaf(items[index]).end_mark.index)
        spans.append((start, len(text) if newline < 0 else newline + 1))
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return text


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The node whose text ends the item (its end mark, unlike the item's, never runs into the comments
    and blank lines that follow it)."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node
