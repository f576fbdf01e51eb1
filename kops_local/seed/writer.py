"""Writing seed objects through the official client's typed APIs, to any API server.

Objects are created, then their status is written through the ``/status`` subresource when the
server dropped it on create (as a real kube-apiserver does for pods and workloads). Responses are read
as raw JSON (``_preload_content=False``) so partial statuses never trip the client's model validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client
from kubernetes.client.rest import ApiException

JsonObject = dict[str, Any]
_MERGE_PATCH = "application/merge-patch+json"


class SeedError(RuntimeError):
    """The API server refused an object the seeder wrote (message carries kind, name and HTTP status)."""


class ApiWriter:
    """Create-then-fix-status against any API server, with errors that say which object failed."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.policy = client.PolicyV1Api(api)
        self.apiextensions = client.ApiextensionsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    @staticmethod
    def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> JsonObject:
        try:
            response = fn(*args, _preload_content=False, **kwargs)
        except ApiException as err:
            try:
                message = json.loads(err.body or "{}").get("message", "")
            except ValueError:
                message = ""
            raise SeedError(f"{what}: HTTP {err.status} {err.reason}" + (f": {message}" if message else "")) from err
        return cast(JsonObject, json.loads(response.data))

    def create(
        self,
        body: JsonObject,
        create: Callable[..., Any],
        *,
        status: JsonObject | None = None,
        patch_status: Callable[..., Any] | None = None,
        status_key: str = "",
    ) -> JsonObject:
        """Create ``body`` (with ``status``), then patch the status if the server did not keep it."""
        meta = body["metadata"]
        namespace_name = meta.get("namespace")
        what = f"create {body['kind']} {namespace_name + '/' if namespace_name else ''}{meta['name']}"
        if status is not None:
            body = body | {"status": status}
        args = (namespace_name, body) if namespace_name else (body,)
        created = self._call(what, create, *args)
        if not created.get("metadata", {}).get("uid"):
            raise SeedError(f"{what}: the API server returned no metadata.uid")
        if status is None or patch_status is None:
            return created
        if created.get("status", {}).get(status_key) == status.get(status_key):
            return created
        name_args = (meta["name"], namespace_name) if namespace_name else (meta["name"],)
        return self._call(
            f"write status of {what.removeprefix('create ')}",
            patch_status,
            *name_args,
            {"status": status},
            _content_type=_MERGE_PATCH,
        )

    def set_owner(self, created: JsonObject, patch: Callable[..., Any], owner: JsonObject) -> JsonObject:
        """Make ``owner`` the controller of ``created`` (a merge patch: the same list a controller's adoption
        writes, so it is harmless when the controller adopted it first)."""
        meta = created["metadata"]
        what = f"set the owner of {created.get('kind', 'object')} {meta['namespace']}/{meta['name']}"
        body = {"metadata": {"ownerReferences": [owner]}}
        return self._call(what, patch, meta["name"], meta["namespace"], body, _content_type=_MERGE_PATCH)

    def resume(self, deployment: str, namespace_name: str) -> JsonObject:
        """Unpause a Deployment (null removes `spec.paused`, as `kubectl rollout resume` leaves it)."""
        body = {"spec": {"paused": None}}
        return self._call(
            f"resume Deployment {namespace_name}/{deployment}",
            self.apps.patch_namespaced_deployment,
            deployment,
            namespace_name,
            body,
            _content_type=_MERGE_PATCH,
        )

    def ensure_namespace(self, body: JsonObject) -> None:
        """Namespaces like kube-system and default pre-exist on real servers: then merge our metadata in."""
        try:
            self.core.create_namespace(body, _preload_content=False)
        except ApiException as err:
            if err.status != 409:
                raise SeedError(f"create Namespace {body['metadata']['name']}: HTTP {err.status} {err.reason}") from err
            patch = {"metadata": {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")}}
            self._call(
                f"update Namespace {body['metadata']['name']}",
                self.core.patch_namespace,
                body["metadata"]["name"],
                patch,
                _content_type=_MERGE_PATCH,
            )
