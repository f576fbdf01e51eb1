"""URL paths of the Kubernetes API, parsed into what they address.

Our own parser rather than kmock's: kmock reads `/api/v1/namespaces/{name}` as a namespace prefix
(so `POST /api/v1/namespaces` fails with a 500), and it does not know which resources are cluster-scoped.
"""

from __future__ import annotations

from dataclasses import dataclass

from kops_local.kube.catalog import Catalog, ResourceType
from kops_local.kube.errors import resource_not_found

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class DiscoveryPath:
    document: str  # "root", "version", "health", "api", "apis", "group", "groupversion"
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourcePath:
    resource: ResourceType
    namespace: str | None  # None: cluster-scoped, or all namespaces for a namespaced collection
    name: str | None = None
    subresource: str | None = None


def parse_path(catalog: Catalog, path: str) -> DiscoveryPath | ResourcePath:
    """Parse a URL-decoded path; raises the API's 404 for anything that is not served."""
    parts = [part for part in path.strip("/").split("/") if part]
    if not parts:
        return DiscoveryPath("root")
    if parts in (["version"], ["healthz"], ["livez"], ["readyz"]):
        return DiscoveryPath("version" if parts == ["version"] else "health")
    if parts in (["api"], ["apis"]):
        return DiscoveryPath(parts[0])
    if parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[0] == "apis" and parts[1] in catalog.group_versions():
        return DiscoveryPath("group", parts[1])
    else:
        raise resource_not_found()
    if version not in catalog.group_versions().get(group, []):
        raise resource_not_found()
    if not rest:
        return DiscoveryPath("groupversion", group, version)
    return _resource_path(catalog, group, version, rest)


def _resource_path(catalog: Catalog, group: str, version: str, rest: list[str]) -> ResourcePath:
    namespace = None
    # /namespaces/{ns}/{plural}/... is namespaced, but /namespaces/{name}[/status] is a Namespace.
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise resource_not_found()
    rt = catalog.by_path(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if rt is None or (namespace is not None and not rt.namespaced):
        raise resource_not_found()
    if (rt.namespaced and namespace is None and name is not None) or (
        subresource is not None and not rt.has_subresource(subresource)
    ):
        raise resource_not_found()
    return ResourcePath(rt, namespace, name, subresource)
