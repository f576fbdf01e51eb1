"""The onboarding plan: what onboarding would create, update or refuse, per resource, writing nothing.

It reads the same desired state the onboarding steps converge on (iam_entities.desired_iam,
identity_mapping.desired_mappings / plan_configmap, crd_mapping.identity_mapping_object, rbac, the
ServiceAccount objects, agent_manifests.agent_objects, kube_router.tolerations, apply.object_action) and
the refusals the checks before building find (preflight.refusals_before_building), and compares them with
what exists through read calls only: IAM Get*/List*, ec2:DescribeKeyPairs, secretsmanager:DescribeSecret
(names, never a value) and Kubernetes GETs.
Each `*_plan` function compares one kind of resource, so a drift check can call them on an onboarded cluster.
"""

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.constants import (
    AGENT_NAME,
    AGENT_NAMESPACE,
    AUTH_CONFIG_HASH_ANNOTATION,
    AUTHENTICATOR_CONFIG_KEY,
    AUTHENTICATOR_DAEMONSET,
    KUBE_ROUTER_DAEMONSET,
    KUBE_SYSTEM,
    LEGACY_INLINE_POLICY_NAME,
    MANAGED_BY_LABEL,
    PRODUCT,
    SPOT_ROLE_NAME,
    TAG_ADOPTED,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    access_key_secret_name,
    drainer_secret_name,
    private_key_secret_name,
    vendor_kubeconfig_secret_name,
)
from kops_lambda.errors import ConflictingIdentityMapping, ForeignEntity, KopsOnboardError, RetryableError
from kops_lambda.logic import policies
from kops_lambda.logic.access_key import IAM_ACCESS_KEY_LIMIT
from kops_lambda.logic.cluster.agent import agent_settings
from kops_lambda.logic.cluster.agent_manifests import AgentSettings, agent_objects
from kops_lambda.logic.cluster.apply import changed_fields, object_action
from kops_lambda.logic.cluster.auth_config import DesiredMapping
from kops_lambda.logic.cluster.binding import cluster_user_arn
from kops_lambda.logic.cluster.crd_mapping import crd_served, identity_mapping_object, refuse_foreign_mappings
from kops_lambda.logic.cluster.drainer import DRAINER_ACCOUNT
from kops_lambda.logic.cluster.identity_mapping import (
    Backend,
    config_hash,
    desired_mappings,
    detect_backend,
    plan_configmap,
)
from kops_lambda.logic.cluster.kops_spec import authentication_spec
from kops_lambda.logic.cluster.kube_router import DAEMONSET_PATH as KUBE_ROUTER_PATH
from kops_lambda.logic.cluster.kube_router import kube_router_networking, tolerations
from kops_lambda.logic.cluster.rbac import SPOT_DRAINER_ROLE, cluster_role, identity_rbac_objects, spot_drainer_rules
from kops_lambda.logic.cluster.rest import JsonObject, KubeRest, kind_of
from kops_lambda.logic.cluster.service_account import service_account_objects, token_secret_object
from kops_lambda.logic.cluster.vendor_identity import vendor_service_account
from kops_lambda.logic.iam_entities import (
    DesiredIam,
    DesiredPolicy,
    default_document,
    desired_iam,
    document_of,
    foreign_role_inline_policies,
    foreign_role_policies,
    foreign_user_policies,
)
from kops_lambda.logic.iam_names import key_pair_name
from kops_lambda.logic.preflight import Refusal, refusals_before_building
from kops_lambda.logic.validation import ValidatedCluster
from kops_lambda.models.base import ResolvedIdentityMode
from kops_lambda.models.cluster import ObjectStatusValue
from kops_lambda.models.onboarding import OnboardInput
from kops_lambda.models.plan import FOREIGN_MARK, OnboardingPlan, PlanAction, PlannedResource
from kops_lambda.models.registry import ClusterRecord

# What onboarding also does that the plan does not evaluate.
NOT_COVERED = (
    "the agent Secret's data (the plan never reads the API key: an existing Secret is listed unchanged)",
    "the registry record (ValidateCluster and RecordOnboarded write it; the plan reads it only)",
    "the secrets' resource policies (each step that writes or reuses a secret puts its own; the drift check "
    "compares them)",
)
_OBJECT_ACTIONS: dict[ObjectStatusValue, PlanAction] = {
    "created": "create",
    "updated": "update",
    "unchanged": "unchanged",
}


def _refused(refusals: Sequence[Refusal], kind: str, name: str) -> PlannedResource | None:
    for refusal in refusals:
        if (refusal.kind, refusal.name) == (kind, name):
            return PlannedResource(kind=kind, name=name, action="refuse", reason=str(refusal.error))
    return None


def _missing(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in (codes or ("NoSuchEntity",))


def _tags(entries: list[dict[str, str]]) -> dict[str, str]:
    return {entry["Key"]: entry["Value"] for entry in entries}


def _ours(tags: dict[str, str]) -> bool:
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


_ADOPT_CHANGE = "adopt: tag it managed-by=kops-onboard and kops-onboard-adopted (offboarding then leaves it)"


# ---- IAM ----


def iam_plan(
    iam: Any, desired: DesiredIam, *, refusals: Sequence[Refusal], adopt_existing: bool
) -> list[PlannedResource]:
    """The user, every managed policy, the seed's inline policy and the Spot role, in CreateIamEntities' order."""
    with translated_aws_errors("plan IAM"):
        planned = [user_plan(iam, desired, refusals=refusals, adopt_existing=adopt_existing)]
        planned.append(policy_plan(iam, desired.shared_policy, refusals=refusals, adopt_existing=adopt_existing))
        planned.append(policy_plan(iam, desired.boundary_policy, refusals=refusals, adopt_existing=False))
        planned += [policy_plan(iam, p, refusals=refusals, adopt_existing=False) for p in desired.cluster_policies]
        user_inline = _inline_policy_names(lambda: iam.list_user_policies(UserName=desired.user_name))
        planned.append(legacy_inline_policy_plan(desired.user_name, user_inline))
        # Onboarding gives the user no inline policy, and the Spot role only ours: CreateIamEntities deletes the rest.
        planned += _foreign_inline_policies(
            "iam-inline-policy", desired.user_name, [n for n in user_inline if n != LEGACY_INLINE_POLICY_NAME]
        )
        planned.append(spot_role_plan(iam, desired, refusals=refusals, adopt_existing=adopt_existing))
        role_inline = _inline_policy_names(lambda: iam.list_role_policies(RoleName=SPOT_ROLE_NAME))
        planned += _foreign_inline_policies(
            "iam-role-policy", SPOT_ROLE_NAME, foreign_role_inline_policies(role_inline, desired)
        )
    return planned


def user_plan(iam: Any, desired: DesiredIam, *, refusals: Sequence[Refusal], adopt_existing: bool) -> PlannedResource:
    name = desired.user_name
    refused = _refused(refusals, "iam-user", name)
    if refused:
        return refused
    try:
        iam.get_user(UserName=name)
    except ClientError as exc:
        if not _missing(exc):
            raise
        return PlannedResource(
            kind="iam-user",
            name=name,
            action="create",
            changes=[f"tags: {_tags(desired.user_tags)}", *(f"attach {arn}" for arn in desired.user_policy_arns)],
        )
    changes = []
    if not _ours(_tags(iam.list_user_tags(UserName=name)["Tags"])) and adopt_existing:
        changes.append(_ADOPT_CHANGE)
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=name)
    present = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
    stale = [
        arn
        for arn in sorted(present)
        if policies.is_cluster_policy(arn.rsplit("/", 1)[-1], name) and arn not in desired.cluster_policy_arns
    ]
    foreign = foreign_user_policies(present, desired.user_policy_arns, name)
    missing = [arn for arn in desired.user_policy_arns if arn not in present]
    count = len(present) - len(stale) - len(foreign) + len(missing)
    if count > policies.USER_ATTACHMENT_LIMIT:
        return PlannedResource(
            kind="iam-user",
            name=name,
            action="refuse",
            reason=f"IAM user {name} would have {count} managed policies attached, "
            f"above IAM's default quota of {policies.USER_ATTACHMENT_LIMIT}",
        )
    changes += [f"attach {arn}" for arn in missing]
    changes += [f"detach and delete {arn} (no longer needed)" for arn in stale]
    changes += [f"detach {arn}{FOREIGN_MARK}" for arn in foreign]
    return _resource("iam-user", name, changes)


def _resource(kind: str, name: str, changes: list[str], **extra: Any) -> PlannedResource:
    return PlannedResource(kind=kind, name=name, action="update" if changes else "unchanged", changes=changes, **extra)


def policy_plan(
    iam: Any, desired: DesiredPolicy, *, refusals: Sequence[Refusal], adopt_existing: bool
) -> PlannedResource:
    refused = _refused(refusals, "iam-policy", desired.name)
    if refused:
        return refused
    try:
        policy = iam.get_policy(PolicyArn=desired.arn)["Policy"]
    except ClientError as exc:
        if not _missing(exc):
            raise
        return PlannedResource(kind="iam-policy", name=desired.name, action="create", document=desired.document)
    changes = []
    if not _ours(_tags(iam.list_policy_tags(PolicyArn=desired.arn)["Tags"])):
        if not (adopt_existing and desired.adoptable):
            return PlannedResource(
                kind="iam-policy",
                name=desired.name,
                action="refuse",
                reason=f"IAM policy {desired.name} exists but was not created by {TAG_MANAGED_BY_VALUE} "
                f"(no {TAG_MANAGED_BY} tag); remove it",
            )
        changes.append(_ADOPT_CHANGE)
    current = default_document(iam, policy)
    document_changes = statement_changes(current, desired.document)
    if document_changes:
        changes += [f"new default version: {change}" for change in document_changes]
    return _resource("iam-policy", desired.name, changes, document=desired.document if changes else None)


def statement_changes(current: policies.Document, desired: policies.Document) -> list[str]:
    """Statement by statement (by Sid, else by content): added, removed, changed."""

    def by_sid(document: policies.Document) -> dict[str, policies.Document]:
        statements = document.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        return {str(s.get("Sid") or policies.canonical(s)): s for s in statements}

    have, want = by_sid(current), by_sid(desired)
    changes = [f"statement {sid} added" for sid in want if sid not in have]
    changes += [f"statement {sid} removed" for sid in have if sid not in want]
    changes += [
        f"statement {sid} changed"
        for sid in want
        if sid in have and policies.canonical(have[sid]) != policies.canonical(want[sid])
    ]
    if not changes and policies.canonical(current) != policies.canonical(desired):
        changes.append("document rewritten (same statements, other top-level fields)")
    return changes


def _inline_policy_names(list_policies: Callable[[], dict[str, Any]]) -> list[str]:
    """An identity's inline policy names, sorted; none when the identity does not exist yet."""
    try:
        return sorted(list_policies()["PolicyNames"])
    except ClientError as exc:
        if not _missing(exc):
            raise
        return []


def legacy_inline_policy_plan(user: str, inline_names: list[str]) -> PlannedResource:
    """The seed's inline policy: CreateIamEntities deletes it (its allows are in the cluster's policies)."""
    present = LEGACY_INLINE_POLICY_NAME in inline_names
    changes = ["delete it: its allows are in the cluster's managed policies"] if present else []
    return _resource("iam-inline-policy", f"{user}/{LEGACY_INLINE_POLICY_NAME}", changes)


def _foreign_inline_policies(kind: str, owner: str, names: list[str]) -> list[PlannedResource]:
    return [
        PlannedResource(kind=kind, name=f"{owner}/{name}", action="update", changes=[f"delete it{FOREIGN_MARK}"])
        for name in names
    ]


def spot_role_plan(
    iam: Any, desired: DesiredIam, *, refusals: Sequence[Refusal], adopt_existing: bool
) -> PlannedResource:
    refused = _refused(refusals, "iam-role", SPOT_ROLE_NAME)
    if refused:
        return refused
    document = {
        "AssumeRolePolicyDocument": desired.spot_role_trust_policy,
        "AttachedPolicies": desired.spot_role_policy_arns,
        policies.SPOT_ROLE_POLICY_NAME: desired.spot_role_inline_policy,
    }
    try:
        iam.get_role(RoleName=SPOT_ROLE_NAME)
    except ClientError as exc:
        if not _missing(exc):
            raise
        return PlannedResource(kind="iam-role", name=SPOT_ROLE_NAME, action="create", document=document)
    changes = []
    if not _ours(_tags(iam.list_role_tags(RoleName=SPOT_ROLE_NAME)["Tags"])):
        if not adopt_existing:
            return PlannedResource(
                kind="iam-role",
                name=SPOT_ROLE_NAME,
                action="refuse",
                reason=f"IAM role {SPOT_ROLE_NAME} exists but was not created by {TAG_MANAGED_BY_VALUE}",
            )
        changes.append(_ADOPT_CHANGE)
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=SPOT_ROLE_NAME)["AttachedPolicies"]}
    changes += [f"attach {arn}" for arn in desired.spot_role_policy_arns if arn not in attached]
    changes += [f"detach {arn}" for arn in desired.spot_role_unwanted_arns if arn in attached]
    changes += [f"detach {arn}{FOREIGN_MARK}" for arn in foreign_role_policies(attached, desired)]
    if desired.spot_role_inline_policy is not None:
        try:
            current = document_of(
                iam.get_role_policy(RoleName=SPOT_ROLE_NAME, PolicyName=policies.SPOT_ROLE_POLICY_NAME)[
                    "PolicyDocument"
                ]
            )
        except ClientError as exc:
            if not _missing(exc):
                raise
            changes.append(f"put inline policy {policies.SPOT_ROLE_POLICY_NAME}")
        else:
            changes += [
                f"inline policy {policies.SPOT_ROLE_POLICY_NAME}: {change}"
                for change in statement_changes(current, desired.spot_role_inline_policy)
            ]
    return _resource("iam-role", SPOT_ROLE_NAME, changes, document=document if changes else None)


# ---- Key pair, access key and secrets (names only) ----


def secret_state(secretsmanager: Any, name: str) -> str:
    """`absent`, `deleted` (in its recovery window) or `present`: from DescribeSecret, never the value."""
    try:
        described = secretsmanager.describe_secret(SecretId=name)
    except ClientError as exc:
        if _missing(exc, "ResourceNotFoundException"):
            return "absent"
        raise
    return "deleted" if "DeletedDate" in described else "present"


def secret_plan(secretsmanager: Any, name: str, *, new_value: bool, why: str) -> PlannedResource:
    """`new_value`: the step would store a value (a new secret, or a new version of this one)."""
    state = secret_state(secretsmanager, name)
    if state == "absent":
        return PlannedResource(kind="secret", name=name, action="create" if new_value else "unchanged")
    if not new_value:
        return PlannedResource(kind="secret", name=name, action="unchanged")
    changes = ["restore it from its scheduled deletion"] if state == "deleted" else []
    return PlannedResource(kind="secret", name=name, action="update", changes=[*changes, f"new version: {why}"])


def key_pair_plan(
    ec2: Any, secretsmanager: Any, *, cluster_name: str, refusals: Sequence[Refusal]
) -> list[PlannedResource]:
    name = key_pair_name(cluster_name)
    secret = private_key_secret_name(cluster_name)
    refused = _refused(refusals, "ec2-key-pair", name)
    if refused:
        return [refused, PlannedResource(kind="secret", name=secret, action="unchanged")]
    with translated_aws_errors("plan key pair"):
        try:
            exists = bool(ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"])
        except ClientError as exc:
            if not _missing(exc, "InvalidKeyPair.NotFound"):
                raise
            exists = False
        if not exists:
            return [
                PlannedResource(kind="ec2-key-pair", name=name, action="create", changes=["type rsa, our tags"]),
                secret_plan(secretsmanager, secret, new_value=True, why="the new key pair's private key"),
            ]
        if secret_state(secretsmanager, secret) != "present":
            reason = (
                f"EC2 key pair {name} exists but its private key is not in secret {secret}; delete the key pair "
                "(or offboard the cluster) to let onboarding create a new one"
            )
            return [PlannedResource(kind="ec2-key-pair", name=name, action="refuse", reason=reason)]
    return [
        PlannedResource(kind="ec2-key-pair", name=name, action="unchanged"),
        PlannedResource(kind="secret", name=secret, action="unchanged"),
    ]


def access_key_plan(
    iam: Any,
    secretsmanager: Any,
    *,
    user: str,
    cluster_name: str,
    recorded_key_id: str | None,
    rotate: bool,
    refusals: Sequence[Refusal],
) -> list[PlannedResource]:
    """Which key is ours is what the registry recorded (the secret's value is never read)."""
    secret = access_key_secret_name(cluster_name)
    name = f"{user}/access-key"
    refused = _refused(refusals, "iam-user", user)
    with translated_aws_errors("plan access key"):
        try:
            keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
        except ClientError as exc:
            if not _missing(exc):
                raise
            keys = {}
        if refused and len(keys) >= IAM_ACCESS_KEY_LIMIT and recorded_key_id not in keys:
            return [PlannedResource(kind="iam-access-key", name=name, action="refuse", reason=refused.reason)]
        ours = recorded_key_id if recorded_key_id in keys else None
        others = _other_active_keys(iam, user, keys, ours)
        if ours and keys[ours] == "Active" and not rotate and secret_state(secretsmanager, secret) == "present":
            key = PlannedResource(kind="iam-access-key", name=name, action="unchanged", changes=[])
            return [key, PlannedResource(kind="secret", name=secret, action="unchanged"), *others]
        if ours:
            key = PlannedResource(
                kind="iam-access-key",
                name=name,
                action="update",
                changes=[f"a new key replaces {ours}" + (" (rotate_access_key)" if rotate else " (not active)")],
            )
        else:
            key = PlannedResource(kind="iam-access-key", name=name, action="create")
        return [key, secret_plan(secretsmanager, secret, new_value=True, why="the new access key"), *others]


def _other_active_keys(iam: Any, user: str, keys: dict[str, str], ours: str | None) -> list[PlannedResource]:
    """StoreAccessKey deactivates the user's other active keys, but those an adopted user had before."""
    others = [key for key, status in keys.items() if status == "Active" and key != ours]
    if not others:
        return []
    adopted = set(_tags(iam.list_user_tags(UserName=user)["Tags"]).get(TAG_ADOPTED, "").split())
    return [
        PlannedResource(
            kind="iam-access-key", name=f"{user}/{key}", action="update", changes=[f"deactivate it{FOREIGN_MARK}"]
        )
        for key in sorted(others)
        if key not in adopted
    ]


# ---- The cluster: identity mapping, RBAC, the vendor's and the drainer's ServiceAccounts ----


def object_plan(rest: KubeRest, desired: JsonObject, *, refuse_foreign: bool = False) -> PlannedResource:
    kind = kind_of(desired)
    meta = desired["metadata"]
    namespace = meta.get("namespace")
    name = f"{namespace}/{meta['name']}" if namespace else str(meta["name"])
    current = rest.get(kind.object_path(namespace, meta["name"]))
    if current is not None and refuse_foreign:
        labels = current.get("metadata", {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != PRODUCT:
            reason = f"{kind.kind} {name} exists without the label {MANAGED_BY_LABEL}={PRODUCT}; it is not ours"
            return PlannedResource(kind=kind.kind, name=name, action="refuse", reason=reason)
    action = _OBJECT_ACTIONS[object_action(current, desired)]
    changes = [f"set {field}" for field in changed_fields(current, desired)] if current and action == "update" else []
    return PlannedResource(kind=kind.kind, name=name, action=action, changes=changes)


def objects_plan(
    rest: KubeRest, objects: Sequence[JsonObject], *, refuse_foreign: bool = False
) -> list[PlannedResource]:
    return [object_plan(rest, obj, refuse_foreign=refuse_foreign) for obj in objects]


def identity_mapping_plan(
    rest: KubeRest,
    *,
    cluster_name: str,
    user_arn: str,
    user: str,
    spot_role_arn: str | None,
    kops_spec: dict[str, Any] | None,
) -> tuple[str | None, list[PlannedResource]]:
    """(backend, planned): MapIdentity's mapping of the user and the drainer's role; an error it would
    raise (malformed mapping data, an unsupported backend) is a refusal."""
    desired = desired_mappings(user_arn=user_arn, user_name=user, spot_role_arn=spot_role_arn)
    try:
        backend = detect_backend(rest, cluster_name=cluster_name, spec=authentication_spec(kops_spec))
        if backend.configmap is None:
            return backend.mode, _crd_plan(rest, desired, cluster_name=cluster_name)
        return backend.mode, _configmap_plan(rest, desired, backend, cluster_name=cluster_name)
    except RetryableError:
        raise  # the API server unavailable: the workflow retries, as it retries MapIdentity
    except KopsOnboardError as exc:
        refusal = PlannedResource(
            kind="identity-mapping", name=cluster_name, action="refuse", reason=f"{type(exc).__name__}: {exc}"
        )
        return None, [refusal]


def _crd_plan(rest: KubeRest, desired: Sequence[DesiredMapping], *, cluster_name: str) -> list[PlannedResource]:
    bodies = [identity_mapping_object(m) for m in desired]
    if not crd_served(rest):
        reason = "IdentityMappingCrdMissing: the cluster does not serve the IAMIdentityMapping CRD"
        return [
            PlannedResource(kind="IAMIdentityMapping", name=b["metadata"]["name"], action="refuse", reason=reason)
            for b in bodies
        ]
    try:
        refuse_foreign_mappings(rest, desired, cluster_name=cluster_name)
    except (ForeignEntity, ConflictingIdentityMapping) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return [
            PlannedResource(kind="IAMIdentityMapping", name=b["metadata"]["name"], action="refuse", reason=reason)
            for b in bodies
        ]
    planned = []
    for mapping, body in zip(desired, bodies, strict=True):
        found = object_plan(rest, body)
        planned.append(
            found.model_copy(update={"changes": [*found.changes, f"maps {mapping.arn} as {mapping.username}"]})
        )
    return planned


def _configmap_plan(
    rest: KubeRest, desired: Sequence[DesiredMapping], backend: Backend, *, cluster_name: str
) -> list[PlannedResource]:
    plan = plan_configmap(rest, desired, backend, cluster_name=cluster_name)
    data = plan.data
    diff = "".join(
        "".join(
            difflib.unified_diff(
                _lines(data.get(key) or ""),
                _lines(value),
                fromfile=f"{KUBE_SYSTEM}/{plan.configmap} data.{key}",
                tofile=f"{KUBE_SYSTEM}/{plan.configmap} data.{key} (onboarded)",
            )
        )
        for key, value in sorted(plan.changes.items())
    )
    changes = [
        f"{s.kind} {s.arn} -> {s.username} {s.groups}: {s.status}" for s in plan.statuses if s.status != "unchanged"
    ]
    if plan.current is None:
        action: PlanAction = "create"
    else:
        action = "update" if plan.changes else "unchanged"
    planned = [
        PlannedResource(
            kind="ConfigMap", name=f"{KUBE_SYSTEM}/{plan.configmap}", action=action, changes=changes, diff=diff or None
        )
    ]
    if backend.mode == "MountedFile":
        # MapIdentity rolls the authenticator unless its pods started from this exact config.
        config_text = plan.changes.get(AUTHENTICATOR_CONFIG_KEY, data.get(AUTHENTICATOR_CONFIG_KEY)) or ""
        template = backend.daemonset.get("spec", {}).get("template", {})
        loaded = (template.get("metadata", {}).get("annotations") or {}).get(AUTH_CONFIG_HASH_ANNOTATION)
        roll = (
            ["roll it (pod template annotations) to load the new config"] if loaded != config_hash(config_text) else []
        )
        planned.append(_resource("DaemonSet", f"{KUBE_SYSTEM}/{AUTHENTICATOR_DAEMONSET}", roll))
    return planned


def _lines(text: str) -> list[str]:
    """For a diff: every line ends with a newline, the last one too (`[]` has none)."""
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(keepends=True)]


def service_account_mode_plan(rest: KubeRest, *, cluster_name: str, spot_force_delete: bool) -> list[PlannedResource]:
    """identity_mode service-account: the vendor's ServiceAccount, binding and token Secret (MapIdentity), the
    drainer's ServiceAccount and its renewal Role (IssueDrainerCredential)."""
    vendor = vendor_service_account(cluster_name)
    planned = objects_plan(rest, [*service_account_objects(vendor), token_secret_object(vendor)], refuse_foreign=True)
    drainer_role = cluster_role(SPOT_DRAINER_ROLE, spot_drainer_rules(force_delete=spot_force_delete))
    planned += objects_plan(rest, [drainer_role])
    planned += objects_plan(rest, service_account_objects(DRAINER_ACCOUNT), refuse_foreign=True)
    return planned


def rbac_plan(rest: KubeRest, *, spot_force_delete: bool) -> list[PlannedResource]:
    return objects_plan(rest, identity_rbac_objects(spot_force_delete=spot_force_delete))


def cluster_plan(
    rest: KubeRest,
    secretsmanager: Any,
    *,
    cluster_name: str,
    identity_mode: ResolvedIdentityMode,
    user_arn: str,
    user: str,
    spot_role_arn: str | None,
    spot_force_delete: bool,
    kops_spec: dict[str, Any] | None,
) -> tuple[str | None, list[PlannedResource]]:
    """(identity backend, planned): MapIdentity's and IssueDrainerCredential's resources."""
    drainer_secret = secret_plan(
        secretsmanager, drainer_secret_name(cluster_name), new_value=True, why="the drainer credential, each run"
    )
    if identity_mode == "service-account":
        planned = rbac_plan(rest, spot_force_delete=spot_force_delete)
        planned += service_account_mode_plan(rest, cluster_name=cluster_name, spot_force_delete=spot_force_delete)
        token_secret = next(r for r in planned if r.kind == "Secret")
        vendor_secret = secret_plan(
            secretsmanager,
            vendor_kubeconfig_secret_name(cluster_name),
            # Its value is the token Secret's: a rerun that keeps the token writes no new version.
            new_value=token_secret.action != "unchanged"
            or secret_state(secretsmanager, vendor_kubeconfig_secret_name(cluster_name)) != "present",
            why="a new ServiceAccount token",
        )
        return None, [*_dedupe(planned), vendor_secret, drainer_secret]
    backend, planned = identity_mapping_plan(
        rest, cluster_name=cluster_name, user_arn=user_arn, user=user, spot_role_arn=spot_role_arn, kops_spec=kops_spec
    )
    planned += rbac_plan(rest, spot_force_delete=spot_force_delete)
    leftover = rest.get(
        kind_of(service_account_objects(DRAINER_ACCOUNT)[0]).object_path(KUBE_SYSTEM, DRAINER_ACCOUNT.name)
    )
    if leftover is not None:
        planned.append(
            PlannedResource(
                kind="ServiceAccount",
                name=f"{KUBE_SYSTEM}/{DRAINER_ACCOUNT.name}",
                action="update",
                changes=["delete it and its bindings: the drainer authenticates as its IAM role now"],
            )
        )
    return backend, [*planned, drainer_secret]


def plan_onboarding(
    *,
    iam: Any,
    ec2: Any,
    secretsmanager: Any,
    rest: KubeRest,
    onboard: OnboardInput,
    validated: ValidatedCluster,
    registered: ClusterRecord | None,
    partition: str,
    account: str,
    seed_spot_role_policies: bool,
    spot_role_arn: str | None,
    spot_force_delete: bool,
    agent_api_url: str,
) -> OnboardingPlan:
    """The plan of an onboarding with this input, after `validate_cluster` passed; in the steps' order."""
    facts = validated.facts
    cluster_name = facts.cluster_name
    refusals = refusals_before_building(
        iam,
        ec2,
        cluster_name=cluster_name,
        registered=registered,
        partition=partition,
        account=account,
        adopt_existing=onboard.adopt_existing,
    )
    desired = desired_iam(
        partition=partition,
        account=account,
        region=facts.region,
        cluster_name=cluster_name,
        vpc_id=facts.vpc_id,
        include_s3_read=onboard.allow_s3_read,
        seed_spot_role_policies=seed_spot_role_policies,
    )
    resources = iam_plan(iam, desired, refusals=refusals, adopt_existing=onboard.adopt_existing)
    resources += key_pair_plan(ec2, secretsmanager, cluster_name=cluster_name, refusals=refusals)
    with translated_aws_errors("plan cluster secrets"):
        backend, in_cluster = cluster_plan(
            rest,
            secretsmanager,
            cluster_name=cluster_name,
            identity_mode=validated.identity_mode,
            user_arn=cluster_user_arn(partition=partition, account=account, cluster_name=cluster_name),
            user=desired.user_name,
            spot_role_arn=spot_role_arn,
            spot_force_delete=spot_force_delete,
            kops_spec=validated.kops_spec,
        )
    resources += in_cluster
    resources += agent_plan(rest, agent_settings(onboard, facts, api_url=agent_api_url))
    resources += kube_router_plan(rest, networking=facts.networking)
    recorded = registered.resource("access_key") if registered else {}
    resources += access_key_plan(
        iam,
        secretsmanager,
        user=desired.user_name,
        cluster_name=cluster_name,
        recorded_key_id=recorded.get("access_key_id"),
        rotate=onboard.rotate_access_key,
        refusals=refusals,
    )
    return OnboardingPlan(
        cluster_name=cluster_name,
        region=facts.region,
        kops_version=facts.kops_version,
        identity_mode=validated.identity_mode,
        identity_backend=backend,
        resources=resources,
        not_covered=list(NOT_COVERED),
    )


def agent_plan(rest: KubeRest, settings: AgentSettings) -> list[PlannedResource]:
    """InstallAgent's objects; its Secret by presence only (its data is the API key, which the plan never reads)."""
    planned = objects_plan(rest, agent_objects(settings, api_key=None))
    found = rest.get(kind_of({"apiVersion": "v1", "kind": "Secret"}).object_path(AGENT_NAMESPACE, AGENT_NAME))
    planned.insert(
        2,
        PlannedResource(
            kind="Secret", name=f"{AGENT_NAMESPACE}/{AGENT_NAME}", action="unchanged" if found else "create"
        ),
    )
    return planned


def kube_router_plan(rest: KubeRest, *, networking: str | None) -> list[PlannedResource]:
    """InstallAgent's toleration fix of kube-router (kOps 1.16/1.17 manifests); nothing where it does not run."""
    daemonset = rest.get(KUBE_ROUTER_PATH) if kube_router_networking(networking) else None
    if daemonset is None:
        return []
    _, missing = tolerations(daemonset)
    return [_resource("DaemonSet", f"{KUBE_SYSTEM}/{KUBE_ROUTER_DAEMONSET}", [f"add toleration {t}" for t in missing])]


def _dedupe(planned: list[PlannedResource]) -> list[PlannedResource]:
    """An object two steps converge (the drainer's ClusterRole) is listed once."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for resource in planned:
        if (resource.kind, resource.name) not in seen:
            seen.add((resource.kind, resource.name))
            unique.append(resource)
    return unique
