"""A ServiceAccount of ours as a cluster identity: the account, its ClusterRole binding, a token, a connection.

For clusters where no aws-iam-authenticator maps IAM principals, an identity of ours is a ServiceAccount
labelled `app.kubernetes.io/managed-by=kops-onboard` (an annotation says what it is for), bound to one of our
ClusterRoles. Its token comes either from the TokenRequest API (`serviceaccounts/<name>/token`, a bounded
`expirationSeconds`; the answer carries the expiry) or from a `kubernetes.io/service-account-token` Secret,
which the token controller fills shortly after it is created (a bounded wait; still empty is
`ServiceAccountTokenPending`, retryable). Optionally a Role lets the account request tokens for itself only
(`create` on `serviceaccounts/token`, that one name), so it can renew its own credential without anyone's
admin kubeconfig.

Everything is idempotent (apply.py: a rerun that finds the objects exact writes nothing); an object of that
name without our label is `ForeignEntity` and is never taken over; removal deletes only what carries our
label, at the resourceVersion read. Tokens live in `IssuedToken`/`ServiceAccountConnection` only, which keep
them out of their repr: no return value of a step, log line or error message carries one.
"""

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kops_lambda.constants import MANAGED_BY_LABEL, PRODUCT
from kops_lambda.errors import ForeignEntity, KubeApiUnavailable, ServiceAccountTokenPending
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.rbac import RBAC_API_VERSION, RBAC_GROUP, managed_labels
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, JsonObject, KubeRest, kind_of
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.cluster import ObjectStatus

PURPOSE_ANNOTATION = "kops-onboard.io/purpose"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
# The token controller fills a new token Secret within a second on a healthy cluster; longer means its
# controller-manager is busy or down, which the workflow's retry (not a longer sleep here) should ride out.
TOKEN_SECRET_WAIT_SECONDS = 10.0
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ServiceAccountSpec:
    """Which account, bound to which ClusterRole, and whether it may renew its own token."""

    namespace: str
    name: str
    cluster_role: str
    purpose: str
    self_renewal: bool = False

    @property
    def binding_name(self) -> str:
        return self.name

    @property
    def token_secret_name(self) -> str:
        return f"{self.name}-token"

    @property
    def renewal_role_name(self) -> str:
        return f"{self.name}-token-renewal"

    @property
    def username(self) -> str:
        """The username the API server gives the account's tokens."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass(frozen=True)
class IssuedToken:
    """A token and when it expires (None: a token Secret's token, valid until the Secret is deleted)."""

    token: str = field(repr=False)
    expires_at: datetime | None


@dataclass(frozen=True)
class ServiceAccountConnection:
    """All a client needs to reach the cluster as the account: no file paths, no exec plugins."""

    server: str
    ca_pem: str | None
    token: str = field(repr=False)


def _metadata(spec: ServiceAccountSpec, name: str, *, namespaced: bool = True) -> JsonObject:
    meta: JsonObject = {
        "name": name,
        "labels": managed_labels(),
        "annotations": {PURPOSE_ANNOTATION: spec.purpose},
    }
    if namespaced:
        meta["namespace"] = spec.namespace
    return meta


def _subject(spec: ServiceAccountSpec) -> JsonObject:
    return {"kind": "ServiceAccount", "name": spec.name, "namespace": spec.namespace}


def service_account_objects(spec: ServiceAccountSpec) -> list[JsonObject]:
    """The account, its ClusterRoleBinding and (self_renewal) the Role and RoleBinding, in creation order."""
    objects: list[JsonObject] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(spec, spec.name)},
        {
            "apiVersion": RBAC_API_VERSION,
            "kind": "ClusterRoleBinding",
            "metadata": _metadata(spec, spec.binding_name, namespaced=False),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": spec.cluster_role},
            "subjects": [_subject(spec)],
        },
    ]
    if spec.self_renewal:
        objects += [
            {
                "apiVersion": RBAC_API_VERSION,
                "kind": "Role",
                "metadata": _metadata(spec, spec.renewal_role_name),
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["serviceaccounts/token"],
                        "resourceNames": [spec.name],
                        "verbs": ["create"],
                    }
                ],
            },
            {
                "apiVersion": RBAC_API_VERSION,
                "kind": "RoleBinding",
                "metadata": _metadata(spec, spec.renewal_role_name),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": spec.renewal_role_name},
                "subjects": [_subject(spec)],
            },
        ]
    return objects


def token_secret_object(spec: ServiceAccountSpec) -> JsonObject:
    meta = _metadata(spec, spec.token_secret_name)
    meta["annotations"][SERVICE_ACCOUNT_NAME_ANNOTATION] = spec.name
    return {"apiVersion": "v1", "kind": "Secret", "type": TOKEN_SECRET_TYPE, "metadata": meta}


def _path(obj: JsonObject) -> str:
    return kind_of(obj).object_path(obj["metadata"].get("namespace"), obj["metadata"]["name"])


def _describe(obj: JsonObject) -> str:
    namespace = obj["metadata"].get("namespace")
    return f"{obj['kind']} {namespace + '/' if namespace else ''}{obj['metadata']['name']}"


def _ours(obj: JsonObject) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT


def _refuse_foreign(rest: KubeRest, objects: list[JsonObject], *, cluster_name: str) -> None:
    for obj in objects:
        current = rest.get(_path(obj))
        if current is not None and not _ours(current):
            raise ForeignEntity(
                f"cluster {cluster_name}: {_describe(obj)} exists without the label {MANAGED_BY_LABEL}={PRODUCT}; "
                "it is not ours, so we leave it: remove or rename it"
            )


def ensure_service_account(rest: KubeRest, spec: ServiceAccountSpec, *, cluster_name: str) -> list[ObjectStatus]:
    """Create or converge the account and its bindings (the ClusterRole itself is the caller's)."""
    objects = service_account_objects(spec)
    _refuse_foreign(rest, objects, cluster_name=cluster_name)
    return ensure_objects(rest, objects)


def request_token(
    rest: KubeRest, spec: ServiceAccountSpec, *, expiration_seconds: int, audiences: list[str] | None = None
) -> IssuedToken:
    """A new token from the TokenRequest API. `rest` may be any identity allowed to create
    `serviceaccounts/token` for the account: the admin at onboarding, the account itself to renew."""
    body: JsonObject = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": expiration_seconds, **({"audiences": audiences} if audiences else {})},
    }
    path = f"{kind_of(service_account_objects(spec)[0]).object_path(spec.namespace, spec.name)}/token"
    status = rest.create(path, body).get("status") or {}
    token, expiry = status.get("token"), status.get("expirationTimestamp")
    if not isinstance(token, str) or not token or not isinstance(expiry, str):
        raise KubeApiUnavailable(f"TokenRequest for {spec.username}: the answer holds no token or expiry")
    return IssuedToken(token=token, expires_at=datetime.fromisoformat(expiry.replace("Z", "+00:00")))


def ensure_token_secret(rest: KubeRest, spec: ServiceAccountSpec, *, cluster_name: str) -> ObjectStatus:
    """The account's `kubernetes.io/service-account-token` Secret (the token controller fills it)."""
    secret = token_secret_object(spec)
    _refuse_foreign(rest, [secret], cluster_name=cluster_name)
    (status,) = ensure_objects(rest, [secret])
    return status


def read_token_secret(
    rest: KubeRest,
    spec: ServiceAccountSpec,
    *,
    wait_seconds: float = TOKEN_SECRET_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> IssuedToken:
    """The token the controller put into the account's token Secret, waiting for it at most `wait_seconds`."""
    path = _path(token_secret_object(spec))
    deadline = clock() + wait_seconds
    while True:
        data = (rest.get(path) or {}).get("data") or {}
        if data.get("token"):
            return IssuedToken(token=base64.b64decode(data["token"]).decode(), expires_at=None)
        if clock() >= deadline:
            raise ServiceAccountTokenPending(
                f"Secret {spec.namespace}/{spec.token_secret_name}: the token controller has not filled it "
                f"within {wait_seconds:g} s"
            )
        sleep(_POLL_SECONDS)


def connection_kubeconfig(connection: ServiceAccountConnection, *, cluster_name: str, user: str) -> dict[str, Any]:
    """A minimal kubeconfig: the server, its CA inline and the token (nothing a loader could execute or read)."""
    cluster: dict[str, Any] = {"server": connection.server}
    if connection.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(connection.ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": connection.token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
    }


def delete_service_account(rest: KubeRest, spec: ServiceAccountSpec, report: Report) -> None:
    """Remove the token Secret, the bindings and the account: only what carries our label (a token Secret
    goes with the account anyway; its own delete makes the removal visible in the report)."""
    for obj in reversed([*service_account_objects(spec), token_secret_object(spec)]):
        _delete_ours(rest, obj, report)


def _delete_ours(rest: KubeRest, obj: JsonObject, report: Report) -> None:
    path, label = _path(obj), _describe(obj)
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = rest.get(path)
        if current is None:
            return
        if not _ours(current):
            report.kept.append(f"{label}: not labelled {MANAGED_BY_LABEL}={PRODUCT}")
            return
        try:
            rest.delete(path, resource_version=str(current["metadata"]["resourceVersion"]))
        except Conflict:
            continue
        report.removed.append(label)
        return
    report.kept.append(f"{label}: still changing after {MAX_WRITE_ATTEMPTS} attempts")
