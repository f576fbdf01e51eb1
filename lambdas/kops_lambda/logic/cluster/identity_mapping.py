"""Map our IAM principals into the cluster's aws-iam-authenticator, and give them RBAC.

Which backend: the authenticator DaemonSet `kube-system/aws-iam-authenticator` is what runs, so its
`--backend-mode` flag decides (kOps 1.19+ sets it from `spec.authentication.aws.backendMode`; before
1.19 there is no flag and the authenticator reads its mounted `config.yaml`):

* `EKSConfigMap` → ConfigMap `kube-system/aws-auth`, `mapUsers` / `mapRoles` (read live by the
  authenticator: no restart);
* `MountedFile` → ConfigMap `kube-system/aws-iam-authenticator` (or the one the DaemonSet mounts), key
  `config.yaml`; the authenticator reads it only at start, so its DaemonSet is then rolled like
  `kubectl rollout restart` (pod template annotation `kops-onboard.io/restartedAt`), together with the
  hash of the config it now must load, so a retry after a crash between the two writes still rolls it
  and a rerun that changes nothing does not;
* `CRD` → cluster-scoped IAMIdentityMapping objects of ours (`crd_mapping.py`: named
  `kops-onboard-cast-service` / `kops-onboard-spot-drainer`, never kOps' `iam-identity-mapping-<n>`);
  read live by the authenticator: no restart. CRD listed but the CRD not served →
  IdentityMappingCrdMissing.
* `DynamicFile` only (a file on the masters, out of the API's reach) → UnsupportedAuthBackend;
* no DaemonSet → AuthenticationNotEnabled, with what to change in kOps.

Several modes listed (e.g. `CRD,EKSConfigMap`): the authenticator asks its mappers in the listed order
and the first that maps the ARN wins (aws-iam-authenticator `pkg/server`: `BuildMapperChain` keeps the
order, `doMapping` returns the first match), so we write to the first listed mode we can write
(`DynamicFile` skipped; the deprecated `File` / `ConfigMap` are MountedFile / EKSConfigMap): an entry
for our ARN in a later backend cannot shadow ours.

ConfigMap rules: parsed strictly first (malformed → MalformedAuthConfig, nothing written); one entry
per ARN (upsert, duplicates of our ARN collapsed); only the keys we change are in the write (a JSON
merge patch of `data.<key>` carrying the resourceVersion we read), so every other key stays
byte-identical, and inside a changed key other entries keep their content and unknown fields; 409 →
read again and redo (at most 5 times); no write at all when our entries are already exact; the
ConfigMap is never deleted or replaced (aws-auth is created only if the EKSConfigMap backend runs
without one). The previous value of each changed key is returned as a backup for rollback.

Who is mapped: the cluster's IAM user (`iam` step) → username `kops-onboard:cast:<user name>`, group
`kops-onboard:cast-service`; the Spot handler's IAM role (ARN from SPOT_HANDLER_ROLE_ARN, optional) →
`mapRoles` (CRD: an object of its own), username `kops-onboard:spot-drainer:{{SessionName}}`, group
`kops-onboard:spot-drainer`.
Role ARNs are written without their IAM path, because the authenticator matches the role of an
assumed-role session by account and name only. The groups' ClusterRoles are described in `rbac.py`.
"""

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kops_lambda.adapters.kube import KubeClient
from kops_lambda.constants import (
    AUTH_CONFIG_HASH_ANNOTATION,
    AUTHENTICATOR_CONFIG_KEY,
    AUTHENTICATOR_CONFIGMAP,
    AUTHENTICATOR_DAEMONSET,
    AWS_AUTH_CONFIGMAP,
    CAST_SERVICE_GROUP,
    CAST_SERVICE_USERNAME_PREFIX,
    KUBE_SYSTEM,
    RESTARTED_AT_ANNOTATION,
    SPOT_DRAINER_GROUP,
    SPOT_DRAINER_USERNAME,
)
from kops_lambda.errors import AuthenticationNotEnabled, InvalidInput, RetryableError, UnsupportedAuthBackend
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.auth_config import (
    DesiredMapping,
    Format,
    UpsertStatus,
    arn_key,
    dump,
    list_at,
    parse_authenticator_config,
    parse_mapping_list,
    render,
    upsert,
    validate_mapping_list,
    with_list,
)
from kops_lambda.logic.cluster.crd_mapping import ensure_crd_mappings
from kops_lambda.logic.cluster.kops_spec import AuthenticationSpec, authentication_spec
from kops_lambda.logic.cluster.rbac import identity_rbac_objects, managed_labels
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, JsonObject, KubeRest, kind_of
from kops_lambda.models.cluster import (
    AuthBackend,
    IdentityMappingBackup,
    IdentityMappingOutcome,
    IdentityMappingResult,
    MappingStatus,
    ObjectStatusValue,
)

_USER_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):user/([\w+=,.@/-]+)$")
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/([\w+=,.@/-]+)$")
_EKS_KEYS = {"user": "mapUsers", "role": "mapRoles"}
_AUTHENTICATOR_PATHS = {"user": ("server", "mapUsers"), "role": ("server", "mapRoles")}
# --backend-mode values -> the backend we write (deprecated aliases as the authenticator resolves them).
_WRITABLE_MODES: dict[str, AuthBackend] = {
    "MountedFile": "MountedFile",
    "File": "MountedFile",
    "EKSConfigMap": "EKSConfigMap",
    "ConfigMap": "EKSConfigMap",
    "CRD": "CRD",
}

ENABLE_HINT = (
    "turn on the AWS IAM Authenticator in kOps: `kops edit cluster {name}` and set "
    "spec.authentication.aws: {{}} (with spec.authorization.rbac: {{}}), then `kops update cluster {name} "
    "--yes` and `kops rolling-update cluster {name} --instance-group-roles=Master --force --yes`"
)


@dataclass(frozen=True)
class Backend:
    mode: AuthBackend
    configmap: str | None  # in kube-system; None for CRD
    daemonset: JsonObject


@dataclass(frozen=True)
class _ConfigMapChange:
    configmap_status: ObjectStatusValue
    resource_version: str
    statuses: list[MappingStatus]
    backup: IdentityMappingBackup | None
    config_text: str | None  # MountedFile: config.yaml as it now is


def user_mapping(user_arn: str, user_name: str) -> DesiredMapping:
    if not _USER_ARN.match(user_arn):
        raise InvalidInput("iam.user_arn is not an IAM user ARN")
    return DesiredMapping("user", user_arn, f"{CAST_SERVICE_USERNAME_PREFIX}{user_name}", (CAST_SERVICE_GROUP,))


def spot_role_mapping(role_arn: str) -> DesiredMapping:
    match = _ROLE_ARN.match(role_arn)
    if not match:
        raise InvalidInput("the Spot handler role ARN is not an IAM role ARN")
    partition, account, path_and_name = match.groups()
    arn = f"arn:{partition}:iam::{account}:role/{path_and_name.rsplit('/', 1)[-1]}"
    return DesiredMapping("role", arn, SPOT_DRAINER_USERNAME, (SPOT_DRAINER_GROUP,))


def desired_mappings(*, user_arn: str, user_name: str, spot_role_arn: str | None) -> list[DesiredMapping]:
    """The cluster's IAM user, then the Spot handler's role (the drainer) when the deployment has one."""
    desired = [user_mapping(user_arn, user_name)]
    if spot_role_arn:
        desired.append(spot_role_mapping(spot_role_arn))
    return desired


def ensure_identity_mapping(
    api: KubeClient,
    *,
    cluster_name: str,
    user_arn: str,
    user_name: str,
    spot_role_arn: str | None,
    kops_spec: dict[str, Any] | None = None,
    spot_force_delete: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IdentityMappingOutcome:
    """The mapping first, so malformed mapping data fails the step before anything is written (a
    mapped identity without its RBAC yet is merely unauthorized), then the roll, then the RBAC."""
    rest = KubeRest(api)
    desired = desired_mappings(user_arn=user_arn, user_name=user_name, spot_role_arn=spot_role_arn)
    backend = detect_backend(rest, cluster_name=cluster_name, spec=authentication_spec(kops_spec))
    if backend.configmap is None:
        crd = ensure_crd_mappings(rest, desired, cluster_name=cluster_name)
        result = IdentityMappingResult(
            backend=backend.mode,
            configmap=None,
            configmap_status=None,
            changed_keys=[],
            resource_version=None,
            identity_mappings=crd.objects,
            mappings=crd.statuses,
            daemonset_restarted=False,
            rbac=ensure_objects(rest, identity_rbac_objects(spot_force_delete=spot_force_delete)),
        )
        return IdentityMappingOutcome(result=result, crd_backup=crd.backup)
    configmap = backend.configmap
    change = _ensure_configmap(rest, desired, backend, cluster_name)
    restarted = False
    if backend.mode == "MountedFile" and change.config_text is not None:
        restarted = roll_authenticator(rest, change.config_text, now=now)
    rbac = ensure_objects(rest, identity_rbac_objects(spot_force_delete=spot_force_delete))
    result = IdentityMappingResult(
        backend=backend.mode,
        configmap=f"{KUBE_SYSTEM}/{configmap}",
        configmap_status=change.configmap_status,
        changed_keys=sorted(change.backup.previous_values) if change.backup else [],
        resource_version=change.resource_version,
        mappings=change.statuses,
        daemonset_restarted=restarted,
        rbac=rbac,
    )
    return IdentityMappingOutcome(result=result, backup=change.backup)


def authenticator_daemonset(rest: KubeRest) -> JsonObject | None:
    """kube-system/aws-iam-authenticator, or None: whether the cluster runs the authenticator at all."""
    return rest.get(_daemonset_path(AUTHENTICATOR_DAEMONSET))


def detect_backend(rest: KubeRest, *, cluster_name: str, spec: AuthenticationSpec | None) -> Backend:
    daemonset = authenticator_daemonset(rest)
    if daemonset is None:
        if spec is not None and spec.aws_enabled:
            raise AuthenticationNotEnabled(
                f"cluster {cluster_name}: spec.authentication.aws is set in the kOps spec but no "
                f"{KUBE_SYSTEM}/{AUTHENTICATOR_DAEMONSET} DaemonSet runs: apply it with `kops update cluster "
                f"{cluster_name} --yes` and roll the masters (`kops rolling-update cluster {cluster_name} "
                "--instance-group-roles=Master --force --yes`)"
            )
        raise AuthenticationNotEnabled(
            f"cluster {cluster_name} runs no aws-iam-authenticator ({KUBE_SYSTEM}/{AUTHENTICATOR_DAEMONSET} "
            f"not found), so IAM identities cannot be mapped: {ENABLE_HINT.format(name=cluster_name)}"
        )
    modes = backend_modes(daemonset)
    mode = next((_WRITABLE_MODES[m] for m in modes if m in _WRITABLE_MODES), None)
    if mode == "EKSConfigMap":
        return Backend(mode, AWS_AUTH_CONFIGMAP, daemonset)
    if mode == "MountedFile":
        return Backend(mode, mounted_configmap_name(daemonset), daemonset)
    if mode == "CRD":
        return Backend(mode, None, daemonset)
    raise UnsupportedAuthBackend(
        f"cluster {cluster_name}: the authenticator uses backend mode(s) {', '.join(modes)}; kops-onboard "
        "writes CRD (IAMIdentityMapping), EKSConfigMap (aws-auth) or MountedFile mappings only: add one of "
        "them to spec.authentication.aws.backendMode (e.g. CRD) and `kops update cluster --yes`"
    )


def _daemonset_path(name: str) -> str:
    return f"/apis/apps/v1/namespaces/{KUBE_SYSTEM}/daemonsets/{name}"


def _container(daemonset: JsonObject) -> JsonObject:
    containers = daemonset.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}]
    named = [c for c in containers if c.get("name") == AUTHENTICATOR_DAEMONSET]
    return dict((named or containers)[0])


def backend_modes(daemonset: JsonObject) -> tuple[str, ...]:
    """The `--backend-mode` list of the authenticator (MountedFile when absent, as before kOps 1.19)."""
    container = _container(daemonset)
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    for index, word in enumerate(words):
        value = None
        if word.startswith("--backend-mode="):
            value = word.split("=", 1)[1]
        elif word == "--backend-mode" and index + 1 < len(words):
            value = words[index + 1]
        if value is not None:
            return tuple(m.strip() for m in value.split(",") if m.strip())
    return ("MountedFile",)


def mounted_configmap_name(daemonset: JsonObject) -> str:
    """The ConfigMap mounted at the authenticator's config directory (kOps: aws-iam-authenticator)."""
    container = _container(daemonset)
    mounts = {m.get("name"): m.get("mountPath", "") for m in container.get("volumeMounts") or []}
    for volume in daemonset.get("spec", {}).get("template", {}).get("spec", {}).get("volumes") or []:
        name = (volume.get("configMap") or {}).get("name")
        if name and str(mounts.get(volume.get("name"), "")).rstrip("/") == "/etc/aws-iam-authenticator":
            return str(name)
    return AUTHENTICATOR_CONFIGMAP


def _configmap_path(name: str) -> str:
    return f"/api/v1/namespaces/{KUBE_SYSTEM}/configmaps/{name}"


def _status(desired: DesiredMapping, status: UpsertStatus) -> MappingStatus:
    return MappingStatus(
        kind=desired.kind, arn=desired.arn, username=desired.username, groups=list(desired.groups), status=status
    )


@dataclass(frozen=True)
class ConfigMapPlan:
    """What the mapping ConfigMap would become: `changes` holds the new value of every key we would write
    (empty: our entries are exact), computed from the ConfigMap as read (`current`, None: absent)."""

    configmap: str
    current: JsonObject | None
    changes: dict[str, str]
    statuses: list[MappingStatus]

    @property
    def data(self) -> dict[str, str]:
        return dict((self.current or {}).get("data") or {})


def plan_configmap(
    rest: KubeRest, desired: Sequence[DesiredMapping], backend: Backend, *, cluster_name: str
) -> ConfigMapPlan:
    """Read the backend's ConfigMap (EKSConfigMap or MountedFile) and compute our write; writes nothing.
    Malformed mapping data raises MalformedAuthConfig."""
    if backend.configmap is None:
        raise InvalidInput("the CRD backend has no mapping ConfigMap")
    current = rest.get(_configmap_path(backend.configmap))
    if backend.mode == "EKSConfigMap":
        return _eks_plan(current, desired, backend.configmap)
    return _mounted_file_plan(current, desired, backend.configmap, cluster_name)


def mapped_entries(plan: ConfigMapPlan, mapping: DesiredMapping, *, mode: str) -> list[JsonObject]:
    """Every entry of the ConfigMap as read that maps `mapping`'s ARN (the drift check's view of our entries)."""
    data, where = plan.data, f"{KUBE_SYSTEM}/{plan.configmap}"
    if mode == "EKSConfigMap":
        key = _EKS_KEYS[mapping.kind]
        entries = parse_mapping_list(data.get(key), fmt="eks", kind=mapping.kind, where=f"{where} {key}")
        fmt: Format = "eks"
    else:
        document = parse_authenticator_config(data.get(AUTHENTICATOR_CONFIG_KEY), where=where) or {}
        path = _AUTHENTICATOR_PATHS[mapping.kind]
        entries = validate_mapping_list(list_at(document, path), fmt="authenticator", kind=mapping.kind, where=where)
        fmt = "authenticator"
    key = arn_key(fmt, mapping.kind)
    return [e for e in entries if str(e.get(key, "")).lower() == mapping.arn.lower()]


def _eks_plan(current: JsonObject | None, desired: Sequence[DesiredMapping], configmap: str) -> ConfigMapPlan:
    data: dict[str, str] = dict((current or {}).get("data") or {})
    changes: dict[str, str] = {}
    statuses = []
    for mapping in desired:
        key = _EKS_KEYS[mapping.kind]
        original = data.get(key)
        where = f"{KUBE_SYSTEM}/{configmap} {key}"
        entries = parse_mapping_list(original, fmt="eks", kind=mapping.kind, where=where)
        result = upsert(entries, mapping, fmt="eks")
        statuses.append(_status(mapping, result.status))
        if result.status == "added":
            changes[key] = render(original, result.entries, [((), mapping.entry("eks"))])
        elif result.status == "updated":
            changes[key] = dump(result.entries)
    return ConfigMapPlan(configmap, current, changes, statuses)


def _mounted_file_plan(
    current: JsonObject | None, desired: Sequence[DesiredMapping], configmap: str, cluster_name: str
) -> ConfigMapPlan:
    data: dict[str, str] = dict((current or {}).get("data") or {})
    original = data.get(AUTHENTICATOR_CONFIG_KEY)
    where = f"{KUBE_SYSTEM}/{configmap} {AUTHENTICATOR_CONFIG_KEY}"
    document = parse_authenticator_config(original, where=where) or {"clusterID": cluster_name}
    appended: list[tuple[tuple[str, ...], JsonObject]] = []
    rewrite = False
    statuses = []
    for mapping in desired:
        list_path = _AUTHENTICATOR_PATHS[mapping.kind]
        entries = validate_mapping_list(
            list_at(document, list_path), fmt="authenticator", kind=mapping.kind, where=where
        )
        result = upsert(entries, mapping, fmt="authenticator")
        statuses.append(_status(mapping, result.status))
        if result.status != "unchanged":
            document = with_list(document, list_path, result.entries)
            appended.append((list_path, mapping.entry("authenticator")))
            rewrite = rewrite or result.status == "updated"
    changes: dict[str, str] = {}
    if appended:
        changes[AUTHENTICATOR_CONFIG_KEY] = dump(document) if rewrite else render(original, document, appended)
    return ConfigMapPlan(configmap, current, changes, statuses)


def _ensure_configmap(
    rest: KubeRest, desired: Sequence[DesiredMapping], backend: Backend, cluster_name: str
) -> _ConfigMapChange:
    fmt: Format = "eks" if backend.mode == "EKSConfigMap" else "authenticator"
    for _ in range(MAX_WRITE_ATTEMPTS):
        plan = plan_configmap(rest, desired, backend, cluster_name=cluster_name)
        try:
            return _write(
                rest,
                _configmap_path(plan.configmap),
                plan.configmap,
                current=plan.current,
                data=plan.data,
                changes=plan.changes,
                statuses=plan.statuses,
                desired=desired,
                fmt=fmt,
            )
        except Conflict:
            continue
    raise RetryableError(_conflict_message(str(backend.configmap)))


def _write(
    rest: KubeRest,
    path: str,
    name: str,
    *,
    current: JsonObject | None,
    data: dict[str, str],
    changes: dict[str, str],
    statuses: list[MappingStatus],
    desired: Sequence[DesiredMapping],
    fmt: Format,
) -> _ConfigMapChange:
    """One write (or none): a create when the ConfigMap is absent, else a merge patch of the changed
    keys guarded by the resourceVersion we read. Raises Conflict on 409."""
    config_text = changes.get(AUTHENTICATOR_CONFIG_KEY, data.get(AUTHENTICATOR_CONFIG_KEY))
    if not changes:
        version = str((current or {}).get("metadata", {}).get("resourceVersion", ""))
        return _ConfigMapChange("unchanged", version, statuses, None, config_text if fmt == "authenticator" else None)
    if current is None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": KUBE_SYSTEM, "labels": managed_labels()},
            "data": changes,
        }
        written = rest.create(kind_of(body).collection_path(KUBE_SYSTEM), body)
        previous_version = None
    else:
        previous_version = str(current["metadata"]["resourceVersion"])
        patch = {"metadata": {"resourceVersion": previous_version}, "data": changes}
        written = rest.merge_patch(path, patch)
    version = str(written.get("metadata", {}).get("resourceVersion", ""))
    by_arn = {s.arn: s.status for s in statuses}
    backup = IdentityMappingBackup(
        configmap=f"{KUBE_SYSTEM}/{name}",
        configmap_created=current is None,
        previous_resource_version=previous_version,
        written_resource_version=version,
        previous_values={key: data.get(key) for key in changes},
        added_arns=[m.arn for m in desired if by_arn.get(m.arn) == "added"],
        updated_arns=[m.arn for m in desired if by_arn.get(m.arn) == "updated"],
    )
    status: ObjectStatusValue = "created" if current is None else "updated"
    return _ConfigMapChange(status, version, statuses, backup, config_text if fmt == "authenticator" else None)


def _conflict_message(name: str) -> str:
    return f"{KUBE_SYSTEM}/{name}: still conflicting after {MAX_WRITE_ATTEMPTS} attempts"


def config_hash(config_text: str) -> str:
    return hashlib.sha256(config_text.encode()).hexdigest()


def roll_authenticator(rest: KubeRest, config_text: str, *, now: Callable[[], datetime]) -> bool:
    """Roll the authenticator DaemonSet unless its pods already started from this exact config."""
    path = _daemonset_path(AUTHENTICATOR_DAEMONSET)
    daemonset = rest.get(path)
    if daemonset is None:
        return False
    annotations = daemonset.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    digest = config_hash(config_text)
    if annotations.get(AUTH_CONFIG_HASH_ANNOTATION) == digest:
        return False
    stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    # A merge patch of two annotations: nothing else in the template can be lost, so no precondition.
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp, AUTH_CONFIG_HASH_ANNOTATION: digest}}
            }
        }
    }
    rest.merge_patch(path, patch)
    return True
