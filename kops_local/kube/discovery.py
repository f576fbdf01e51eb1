"""Discovery documents (legacy, unaggregated), which kubectl needs before any command.

kubectl 1.32 first asks `/api` and `/apis` for aggregated discovery (apidiscovery.k8s.io/v2) in its
Accept header; answering with plain `application/json` APIVersions/APIGroupList makes client-go fall
back to the per-group-version documents served here. kubectl drain only evicts (instead of deleting)
when `/api/v1` lists `pods/eviction` with kind Eviction and a group/version, as the real server does.
"""

from __future__ import annotations

from typing import Any

from kops_local.kube.catalog import Catalog, ResourceType

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def root_paths(catalog: Catalog) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"}
    for group, versions in catalog.group_versions().items():
        if group:
            paths.add(f"/apis/{group}")
            paths.update(f"/apis/{group}/{version}" for version in versions)
    return {"paths": sorted(paths)}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    groups = [_group(group, versions) for group, versions in catalog.group_versions().items() if group]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(catalog: Catalog, group: str) -> dict[str, Any]:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, catalog.group_versions()[group])}


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entries = [entry]
    for sub in rt.subresources:
        sub_entry: dict[str, Any] = {
            "name": f"{rt.plural}/{sub.name}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group is not None:
            sub_entry.update(group=sub.group, version=sub.version)
        entries.append(sub_entry)
    return entries


def api_resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rt in catalog.in_group_version(group, version) for entry in _resource_entries(rt)],
    }
