"""Raw-JSON access to the Kubernetes API, for the steps that must not lose a single field.

The typed models of the official client drop what they do not know (unknown fields, and for
ConfigMaps the exact bytes are all that matters), so these steps read and write plain JSON through the
client's connection (adapters/kube.send): its auth, TLS and connection pool, with our bounded timeouts.

Errors: 401/403 → ClusterAccessError, except a 403 for a namespace still being deleted (an offboarding or
rollback just removed it: RetryableError, its namespace controller finishes within seconds);
429/5xx/transport → KubeApiUnavailable (retryable); 409 →
`Conflict` (caught by the callers' bounded re-read loops, never leaves this package); other 4xx →
KubeRequestRejected (status and reason only: a Status message can echo object content).
"""

import json
from dataclasses import dataclass
from typing import Any

from kops_lambda.adapters.kube import JSON, MERGE_PATCH, KubeApiError, KubeClient, send, translated_kube_errors
from kops_lambda.errors import KubeApiUnavailable, KubeRequestRejected, RetryableError

JsonObject = dict[str, Any]

# How many times a read-modify-write is attempted when someone else writes in between (409).
MAX_WRITE_ATTEMPTS = 5


class Conflict(Exception):
    """409: the object changed since we read it (or already exists on create)."""


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: `/api/v1` or `/apis/<group>/<version>`, plural, scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def collection_path(self, namespace: str | None) -> str:
        prefix = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is required")
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


_KINDS = (
    Kind("v1", "Namespace", "namespaces", namespaced=False),
    Kind("v1", "ConfigMap", "configmaps", namespaced=True),
    Kind("v1", "Secret", "secrets", namespaced=True),
    Kind("v1", "ServiceAccount", "serviceaccounts", namespaced=True),
    Kind("v1", "ResourceQuota", "resourcequotas", namespaced=True),
    Kind("apps/v1", "Deployment", "deployments", namespaced=True),
    Kind("apps/v1", "DaemonSet", "daemonsets", namespaced=True),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", namespaced=True),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespaced=True),
    Kind("iamauthenticator.k8s.aws/v1alpha1", "IAMIdentityMapping", "iamidentitymappings", namespaced=False),
)
KINDS: dict[str, Kind] = {kind.kind: kind for kind in _KINDS}


def kind_of(obj: JsonObject) -> Kind:
    kind = KINDS.get(str(obj.get("kind")))
    if kind is None or kind.api_version != obj.get("apiVersion"):
        raise ValueError(f"unsupported object type {obj.get('apiVersion')}/{obj.get('kind')}")
    return kind


class KubeRest:
    """GET/POST/PUT/PATCH/DELETE of JSON objects by path, errors translated (see the module docstring)."""

    def __init__(self, api: KubeClient) -> None:
        self._api = api

    def get(self, path: str) -> JsonObject | None:
        """The object, or None when it does not exist (404)."""
        return self._call("GET", path, operation=f"GET {path}", missing_ok=True)

    def create(self, collection_path: str, body: JsonObject) -> JsonObject:
        return self._required("POST", collection_path, body=body)

    def replace(self, path: str, body: JsonObject) -> JsonObject:
        return self._required("PUT", path, body=body)

    def merge_patch(self, path: str, patch: JsonObject) -> JsonObject:
        return self._required("PATCH", path, body=patch, content_type=MERGE_PATCH)

    def delete(self, path: str, *, resource_version: str) -> None:
        """Delete only the version we read (a precondition: a newer one is a 409)."""
        body = {"preconditions": {"resourceVersion": resource_version}}
        self._required("DELETE", path, body=body)

    def _required(self, method: str, path: str, *, body: JsonObject, content_type: str = JSON) -> JsonObject:
        result = self._call(method, path, operation=f"{method} {path}", body=body, content_type=content_type)
        return result or {}

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        body: JsonObject | None = None,
        content_type: str = JSON,
        missing_ok: bool = False,
    ) -> JsonObject | None:
        try:
            with translated_kube_errors(operation):
                try:
                    data = send(self._api, method, path, body=body, content_type=content_type)
                except KubeApiError as exc:
                    if _namespace_terminating(exc):
                        raise RetryableError(f"{operation}: the namespace is still being deleted") from None
                    raise
        except KubeApiError as exc:  # what translated_kube_errors lets through: 4xx other than 401/403/429
            if exc.status == 409:
                raise Conflict(operation) from None
            if exc.status == 404 and missing_ok:
                return None
            raise KubeRequestRejected(f"{operation}: {exc.reason} ({exc.status})") from None
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:  # e.g. a proxy's HTML error page with a 200: not the API server talking
            raise KubeApiUnavailable(f"{operation}: the answer is not JSON") from None
        return parsed if isinstance(parsed, dict) else {}


def _namespace_terminating(exc: KubeApiError) -> bool:
    """403 with the cause kube-apiserver gives for new content in a namespace being deleted."""
    if exc.status != 403 or not exc.body:
        return False
    try:
        status = json.loads(exc.body)
    except (TypeError, ValueError):
        return False
    causes = ((status.get("details") or {}).get("causes") or []) if isinstance(status, dict) else []
    return any(isinstance(c, dict) and c.get("reason") == "NamespaceTerminating" for c in causes)
