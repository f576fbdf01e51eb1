"""Drift detection: per onboarded cluster, what is no longer as onboarding left it (the scheduled drift check).

The desired state is the plan's (logic/plan.plan_onboarding) of the options the cluster was onboarded with
(the registry's `options`): every resource the plan would not leave `unchanged` has drifted, with the plan's
own description of what differs. That includes what onboarding never makes but finds on our identities, and
removes: managed policies attached to the user or the Spot role beyond ours, inline policies on either, and
active access keys of the user besides the stored one (deactivated). A rerun of onboarding with the same
options converges exactly what the plan lists, so it repairs all of that drift. On top of the plan, the check
compares the secrets' resource policies (the deny to every reader but the named ones) with ours; a rerun puts
ours again.

Drift that widens access is called out, with why: a statement, action or resource added to an allow (or a
condition removed), a deny narrowed or removed, a policy or key added, a group or another username for our
ARN in the identity mapping, an RBAC rule or binding subject added. Reads only; one cluster's failure never
stops the others, and nothing read is ever a secret's value but the admin kubeconfig the plan connects with.
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from kops_lambda.adapters.aws_errors import error_code, safe_reason, translated_aws_errors
from kops_lambda.adapters.secrets import reader_policy
from kops_lambda.constants import (
    SPOT_ROLE_NAME,
    access_key_secret_name,
    drainer_secret_name,
    private_key_secret_name,
    vendor_kubeconfig_secret_name,
)
from kops_lambda.logic import policies, registry
from kops_lambda.logic.cluster.access import connected_api
from kops_lambda.logic.cluster.agent import agent_settings
from kops_lambda.logic.cluster.agent_manifests import agent_objects
from kops_lambda.logic.cluster.binding import cluster_user_arn
from kops_lambda.logic.cluster.crd_mapping import identity_mapping_object
from kops_lambda.logic.cluster.identity_mapping import (
    desired_mappings,
    detect_backend,
    mapped_entries,
    plan_configmap,
)
from kops_lambda.logic.cluster.kops_spec import authentication_spec
from kops_lambda.logic.cluster.rbac import SPOT_DRAINER_ROLE, cluster_role, identity_rbac_objects, spot_drainer_rules
from kops_lambda.logic.cluster.rest import JsonObject, KubeRest, kind_of
from kops_lambda.logic.iam_entities import DesiredIam, default_document, desired_iam, document_of
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.plan import plan_onboarding, secret_state, statement_changes
from kops_lambda.logic.validation import ValidatedCluster, validate_cluster
from kops_lambda.models.drift import ClusterDrift, DriftedResource, DriftKind
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.plan import FOREIGN_MARK, PlannedResource
from kops_lambda.models.registry import ClusterRecord

# Secret kind -> its name for a cluster, as the secrets' resource policies are configured (DriftDependencies).
SECRET_NAMES: dict[str, Callable[[str], str]] = {
    "access-key": access_key_secret_name,
    "ssh-private-key": private_key_secret_name,
    "vendor-kubeconfig": vendor_kubeconfig_secret_name,
    "spot-drainer": drainer_secret_name,
}
_PLAN_DRIFT: dict[str, DriftKind] = {"create": "missing", "update": "changed", "refuse": "refused"}


@dataclass(frozen=True)
class DriftDependencies:
    iam: Any
    secretsmanager: Any
    registry_table: Any
    regional_client: Callable[[str, str], Any]  # (service, region) -> client: EC2, Auto Scaling, S3
    partition: str
    account: str
    seed_spot_role_policies: bool
    spot_role_arn: str | None
    spot_force_delete: bool
    agent_api_url: str
    # Secret kind (SECRET_NAMES) -> the readers its resource policy names, as the writing step has them.
    secret_readers: Mapping[str, Sequence[str]]


def check_drift(deps: DriftDependencies, *, now: datetime | None = None) -> list[ClusterDrift]:
    """Every onboarded cluster checked, one after the other, and each result recorded in its registry item."""
    results = []
    for item in registry.onboarded_clusters(deps.registry_table, registry.DRIFT_READ_ATTRIBUTES):
        result = detect_drift(deps, item, now=now or datetime.now(UTC))
        try:
            registry.record_drift_result(
                deps.registry_table,
                region=result.region,
                cluster_name=result.cluster_name,
                result=result.model_dump(mode="json"),
            )
        except Exception as exc:  # still logged and counted; the next run records again
            result = result.model_copy(update={"error": f"not recorded in the registry: {safe_reason(exc)}"})
        results.append(result)
    return results


def detect_drift(deps: DriftDependencies, item: ClusterRecord, *, now: datetime) -> ClusterDrift:
    """One cluster's drift; never raises (a check that could not be made is a result with `error`)."""
    name, region = item.cluster_name, item.region
    checked_at = now.isoformat(timespec="seconds")
    try:
        onboard = OnboardInput.model_validate({**(item.options or {}), "cluster_name": name, "region": region})
    except ValidationError:
        # Onboarded before the options were recorded (or a record that is not one): a rerun records them.
        error = "no onboarding options recorded for the cluster; rerun its onboarding to record them"
        return ClusterDrift(cluster_name=name[:253], region=region[:32], checked_at=checked_at, error=error)
    try:
        resources = _drifted(deps, item, onboard, region)
    except Exception as exc:
        return ClusterDrift(cluster_name=name, region=region, checked_at=checked_at, error=safe_reason(exc))
    return ClusterDrift(cluster_name=name, region=region, checked_at=checked_at, resources=resources)


def _drifted(deps: DriftDependencies, item: ClusterRecord, onboard: OnboardInput, region: str) -> list[DriftedResource]:
    validated = validate_cluster(
        onboard,
        region=region,
        kubeconfig_secret_arn=item.kubeconfig_secret_arn or onboard.kubeconfig_secret_arn,
        ec2=deps.regional_client("ec2", region),
        autoscaling=deps.regional_client("autoscaling", region),
        s3=deps.regional_client("s3", region),
        secretsmanager=deps.secretsmanager,
    )
    facts = validated.facts
    desired = desired_iam(
        partition=deps.partition,
        account=deps.account,
        region=facts.region,
        cluster_name=facts.cluster_name,
        vpc_id=facts.vpc_id,
        include_s3_read=onboard.allow_s3_read,
        seed_spot_role_policies=deps.seed_spot_role_policies,
    )
    with connected_api(validated.kubeconfig) as api:
        rest = KubeRest(api)
        plan = plan_onboarding(
            iam=deps.iam,
            ec2=deps.regional_client("ec2", region),
            secretsmanager=deps.secretsmanager,
            rest=rest,
            onboard=onboard,
            validated=validated,
            registered=item,
            partition=deps.partition,
            account=deps.account,
            seed_spot_role_policies=deps.seed_spot_role_policies,
            spot_role_arn=deps.spot_role_arn,
            spot_force_delete=deps.spot_force_delete,
            agent_api_url=deps.agent_api_url,
        )
        objects = _desired_objects(deps, onboard, validated)
        drifted = [
            _classified(deps, rest=rest, validated=validated, desired=desired, objects=objects, planned=planned)
            for planned in plan.resources
            if _is_drift(planned)
        ]
    with translated_aws_errors("drift check"):
        drifted += _secret_policy_drift(deps, facts.cluster_name, validated.identity_mode)
    return drifted


def _is_drift(planned: PlannedResource) -> bool:
    if planned.action == "unchanged":
        return False
    # A secret the step writes a new version of on every run (the drainer's token) is no drift; one deleted or
    # scheduled for deletion is. A new access key is listed with its key, not with its secret.
    if planned.kind == "secret" and planned.action == "update":
        return any(change.startswith("restore") for change in planned.changes)
    return True


# ---- What widens access ----


def _classified(
    deps: DriftDependencies,
    *,
    rest: KubeRest,
    validated: ValidatedCluster,
    desired: DesiredIam,
    objects: Mapping[tuple[str, str], JsonObject],
    planned: PlannedResource,
) -> DriftedResource:
    foreign = [change for change in planned.changes if change.endswith(FOREIGN_MARK)]
    widening = [_foreign_widening(planned.kind, planned.name, change) for change in foreign]
    if planned.action == "update":
        if planned.kind == "iam-policy":
            widening = _policy_widening(deps.iam, desired, planned.name)
        elif planned.kind == "iam-role":
            widening += _role_widening(deps.iam, desired, planned)
        elif planned.kind == "ConfigMap":
            widening = _mapping_widening(rest, deps, validated, desired)
        elif (planned.kind, planned.name) in objects:
            current = rest.get(kind_of(objects[(planned.kind, planned.name)]).object_path(*_where(planned.name)))
            widening = object_widening(current, objects[(planned.kind, planned.name)])
    return DriftedResource(
        kind=planned.kind,
        name=planned.name,
        drift="extra" if foreign and len(foreign) == len(planned.changes) else _PLAN_DRIFT[planned.action],
        changes=planned.changes or ([planned.reason] if planned.reason else []),
        widens_access=bool(widening),
        widening=widening,
    )


def _foreign_widening(kind: str, name: str, change: str) -> str:
    """What a plan line removing something onboarding never makes says about access as found."""
    short = name.rsplit("/", 1)[-1]
    if kind == "iam-access-key":
        return f"another credential of the cluster's user: key {short} is active"
    if kind in {"iam-inline-policy", "iam-role-policy"}:
        return f"inline policy {short} on {'the user' if kind == 'iam-inline-policy' else 'the role'}"
    return f"{change.removeprefix('detach ').removesuffix(FOREIGN_MARK)} attached"


def _where(name: str) -> tuple[str | None, str]:
    namespace, _, short = name.rpartition("/")
    return namespace or None, short


def _policy_widening(iam: Any, desired: DesiredIam, name: str) -> list[str]:
    wanted = next(
        (p for p in (desired.shared_policy, desired.boundary_policy, *desired.cluster_policies) if p.name == name),
        None,
    )
    if wanted is None:
        return []
    with translated_aws_errors("drift policy"):
        current = default_document(iam, iam.get_policy(PolicyArn=wanted.arn)["Policy"])
    return document_widening(current, wanted.document)


def _role_widening(iam: Any, desired: DesiredIam, planned: PlannedResource) -> list[str]:
    widening = [
        f"{change.split(' ', 1)[1]} is attached"
        for change in planned.changes
        if change.startswith("detach ") and not change.endswith(FOREIGN_MARK)
    ]
    if desired.spot_role_inline_policy is not None:
        try:
            current = document_of(
                iam.get_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName=policies.SPOT_ROLE_POLICY_NAME)[
                    "PolicyDocument"
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
        else:
            widening += [
                f"inline policy {policies.SPOT_ROLE_POLICY_NAME}: {why}"
                for why in document_widening(current, desired.spot_role_inline_policy)
            ]
    return widening


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def _values(statement: Mapping[str, Any], key: str) -> set[str]:
    value = statement.get(key)
    if value is None:
        return set()
    return {str(v) for v in (value if isinstance(value, list) else [value])}


def _condition_values(statement: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (operator, key): json.dumps(value, sort_keys=True)
        for operator, values in (statement.get("Condition") or {}).items()
        for key, value in values.items()
    }


def document_widening(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """Why `current` allows more than `desired` (empty: it does not): statement by statement, by Sid (else by
    content). An allow gains a statement, an action, a resource, a NotAction/NotResource, or loses a condition;
    a deny is removed, loses an action or a resource, or gains a condition."""

    def key(statement: Mapping[str, Any]) -> str:
        return str(statement.get("Sid") or policies.canonical(dict(statement)))

    have = {key(s): s for s in _statements(current)}
    want = {key(s): s for s in _statements(desired)}
    why: list[str] = []
    for sid, statement in have.items():
        allow = statement.get("Effect") == "Allow"
        if sid not in want:
            if allow:
                why.append(f"statement {sid} added, allowing {', '.join(sorted(_values(statement, 'Action')))}")
            continue
        wanted = want[sid]
        if allow:
            for field in ("Action", "Resource", "NotAction", "NotResource", "Principal"):
                added = _values(statement, field) - _values(wanted, field)
                if added:
                    why.append(f"statement {sid}: {field} {', '.join(sorted(added))} added")
            conditions = _condition_values(statement)
            removed = [f"{op} {k}" for (op, k), v in _condition_values(wanted).items() if conditions.get((op, k)) != v]
            why += [f"statement {sid}: condition {condition} removed or changed" for condition in removed]
        else:
            for field in ("Action", "Resource"):
                lost = _values(wanted, field) - _values(statement, field)
                if lost:
                    why.append(f"deny {sid}: {field} {', '.join(sorted(lost))} removed")
            conditions = _condition_values(wanted)
            narrowed = [
                f"{op} {k}" for (op, k), v in _condition_values(statement).items() if conditions.get((op, k)) != v
            ]
            why += [f"deny {sid}: condition {condition} added or changed" for condition in narrowed]
    why += [f"deny {sid} removed" for sid, s in want.items() if s.get("Effect") == "Deny" and sid not in have]
    return why


def _desired_objects(
    deps: DriftDependencies, onboard: OnboardInput, validated: ValidatedCluster
) -> dict[tuple[str, str], JsonObject]:
    """The in-cluster objects onboarding writes whose changes may widen access (RBAC, the CRD mappings), by the
    plan's (kind, name)."""
    objects = [
        *identity_rbac_objects(spot_force_delete=deps.spot_force_delete),
        cluster_role(SPOT_DRAINER_ROLE, spot_drainer_rules(force_delete=deps.spot_force_delete)),
        *agent_objects(agent_settings(onboard, validated.facts, api_url=deps.agent_api_url), api_key=None),
    ]
    if validated.identity_mode == "authenticator":
        user = cluster_user_arn(partition=deps.partition, account=deps.account, cluster_name=onboard.cluster_name)
        objects += [
            identity_mapping_object(mapping)
            for mapping in desired_mappings(
                user_arn=user, user_name=user_name(onboard.cluster_name), spot_role_arn=deps.spot_role_arn
            )
        ]
    indexed = {}
    for obj in objects:
        meta = obj["metadata"]
        name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])
        indexed[(str(obj["kind"]), name)] = obj
    return indexed


def _rule_grants(rules: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {
        (group, resource, verb, name)
        for rule in rules
        for group in rule.get("apiGroups") or [""]
        for resource in [*(rule.get("resources") or []), *(f"url:{u}" for u in rule.get("nonResourceURLs") or [])]
        for verb in rule.get("verbs") or []
        for name in rule.get("resourceNames") or ["*"]
    }


def object_widening(current: JsonObject | None, desired: JsonObject) -> list[str]:
    """Why an in-cluster object as found grants more than ours: RBAC rules or binding subjects added, a binding
    pointed at another role, groups or another username in an IAMIdentityMapping."""
    if current is None:
        return []
    kind = desired["kind"]
    if kind in {"ClusterRole", "Role"}:
        added = sorted(_rule_grants(current.get("rules") or []) - _rule_grants(desired.get("rules") or []))
        return [
            f"rule added: {verb} {resource} in group '{group}' (names {name})" for group, resource, verb, name in added
        ]
    if kind in {"ClusterRoleBinding", "RoleBinding"}:
        why = []
        if current.get("roleRef") != desired.get("roleRef"):
            why.append(f"bound to {(current.get('roleRef') or {}).get('name')} instead")
        wanted = {_subject(s) for s in desired.get("subjects") or []}
        why += [f"subject {s} added" for s in sorted({_subject(s) for s in current.get("subjects") or []} - wanted)]
        return why
    if kind == "IAMIdentityMapping":
        have, want = current.get("spec") or {}, desired.get("spec") or {}
        why = [f"group {g} added" for g in sorted(set(have.get("groups") or []) - set(want.get("groups") or []))]
        if have.get("username") != want.get("username"):
            why.append(f"username changed to {have.get('username')}")
        return why
    return []


def _subject(subject: Mapping[str, Any]) -> str:
    namespace = f"{subject['namespace']}/" if subject.get("namespace") else ""
    return f"{subject.get('kind')} {namespace}{subject.get('name')}"


def _mapping_widening(
    rest: KubeRest, deps: DriftDependencies, validated: ValidatedCluster, desired: DesiredIam
) -> list[str]:
    """Our ARNs' entries in the mapping ConfigMap as found: groups beyond ours, another username, more entries."""
    cluster_name = validated.facts.cluster_name
    user_arn = cluster_user_arn(partition=deps.partition, account=deps.account, cluster_name=cluster_name)
    mappings = desired_mappings(user_arn=user_arn, user_name=desired.user_name, spot_role_arn=deps.spot_role_arn)
    backend = detect_backend(rest, cluster_name=cluster_name, spec=authentication_spec(validated.kops_spec))
    if backend.configmap is None:
        return []
    plan = plan_configmap(rest, mappings, backend, cluster_name=cluster_name)
    why = []
    for mapping in mappings:
        for entry in mapped_entries(plan, mapping, mode=backend.mode):
            extra = sorted(set(entry.get("groups") or []) - set(mapping.groups))
            why += [f"group {group} added to the mapping of {mapping.arn}" for group in extra]
            if entry.get("username") != mapping.username:
                why.append(f"{mapping.arn} mapped as {entry.get('username')} instead of {mapping.username}")
    return why


# ---- The secrets' resource policies ----


def _secret_policy_drift(deps: DriftDependencies, cluster_name: str, identity_mode: str) -> list[DriftedResource]:
    """Each present secret's resource policy against the one its step wrote (reader_policy of its readers)."""
    found = []
    for kind, readers in deps.secret_readers.items():
        if not readers or (kind == "vendor-kubeconfig" and identity_mode != "service-account"):
            continue
        name = SECRET_NAMES[kind](cluster_name)
        if secret_state(deps.secretsmanager, name) != "present":
            continue  # the plan lists a missing secret
        policy = deps.secretsmanager.get_resource_policy(SecretId=name).get("ResourcePolicy")
        current = document_of(policy) if policy else {}
        wanted = reader_policy(list(readers))
        if policies.canonical(current) == policies.canonical(wanted):
            continue
        changes = (
            ["no resource policy: every principal with an IAM grant may read it"]
            if not current
            else [f"resource policy: {c}" for c in _policy_differences(current, wanted)]
        )
        widening = document_widening(current, wanted)
        found.append(
            DriftedResource(
                kind="secret-resource-policy",
                name=name,
                drift="changed",
                changes=changes,
                widens_access=bool(widening),
                widening=widening,
            )
        )
    return found


def _policy_differences(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    return statement_changes(dict(current), dict(wanted)) or ["rewritten"]
