"""The API resources the emulator serves, with their discovery metadata.

Kinds, singular names, short names, categories, verbs and scopes come from kmock's bundled discovery
snapshot of a real cluster (``kmock.ResourcesArray.load_bundled``); this module only picks the
resources we emulate and adds what the snapshot lacks (the group/version/kind of subresources).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import kmock

# "group/version/plural" ("" group = core). Only these are served; anything else answers 404.
SERVED_RESOURCES: tuple[str, ...] = (
    "/v1/namespaces",
    "/v1/nodes",
    "/v1/pods",
    "/v1/configmaps",
    "/v1/secrets",
    "/v1/serviceaccounts",
    "/v1/events",
    "/v1/resourcequotas",
    "/v1/limitranges",
    "/v1/replicationcontrollers",
    "/v1/services",
    "/v1/endpoints",
    "/v1/persistentvolumes",
    "/v1/persistentvolumeclaims",
    "apps/v1/deployments",
    "apps/v1/daemonsets",
    "apps/v1/replicasets",
    "apps/v1/statefulsets",
    "apps/v1/controllerrevisions",
    "batch/v1/jobs",
    "batch/v1/cronjobs",
    "rbac.authorization.k8s.io/v1/clusterroles",
    "rbac.authorization.k8s.io/v1/clusterrolebindings",
    "rbac.authorization.k8s.io/v1/roles",
    "rbac.authorization.k8s.io/v1/rolebindings",
    "policy/v1/poddisruptionbudgets",
    "events.k8s.io/v1/events",
    "coordination.k8s.io/v1/leases",
    "scheduling.k8s.io/v1/priorityclasses",
    "storage.k8s.io/v1/storageclasses",
)

# Subresources we implement. Others in the snapshot (log, exec, scale, ...) are not advertised.
SERVED_SUBRESOURCES = frozenset({"status", "eviction", "token"})

# Not advertised in discovery because the emulator does not implement them.
UNSUPPORTED_VERBS = frozenset({"watch"})

# Resources whose metadata.generation the real API server bumps on spec changes.
GENERATION_TRACKED = frozenset(
    {
        "deployments",
        "daemonsets",
        "replicasets",
        "statefulsets",
        "replicationcontrollers",
        "jobs",
        "cronjobs",
        "poddisruptionbudgets",
    }
)


@dataclass(frozen=True)
class Subresource:
    """A subresource as advertised in discovery (e.g. pods/eviction is a policy/v1 Eviction)."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # None: same group/version as the parent resource
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """The resource name as the API server spells it in messages: `pods`, `deployments.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def tracks_generation(self) -> bool:
        return self.plural in GENERATION_TRACKED

    def has_subresource(self, name: str) -> bool:
        return any(sub.name == name for sub in self.subresources)


def _subresource(parent_kind: str, name: str) -> Subresource:
    if name == "eviction":
        return Subresource(name, "Eviction", ("create",), group="policy", version="v1")
    if name == "token":  # serviceaccounts/token
        return Subresource(name, "TokenRequest", ("create",), group="authentication.k8s.io", version="v1")
    return Subresource(name, parent_kind, ("get", "patch", "update"))


class Catalog:
    """Lookup of served resource types by URL parts, by kind, or by the loose names people type."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self._types = tuple(types)
        self._by_path = {(t.group, t.version, t.plural): t for t in self._types}
        self._by_kind = {(t.api_version, t.kind): t for t in self._types}

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types)

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def resolve(self, ref: str | ResourceType) -> ResourceType:
        """Accept `Pod`, `pods`, `po`, `v1/Pod`, `apps/v1/Deployment`, `apps/v1/deployments`,
        `deployments.apps`; a bare name prefers the core group (`events` is core/v1 events)."""
        if isinstance(ref, ResourceType):
            return ref
        if "/" in ref:
            api_version, _, name = ref.rpartition("/")
            candidates = [t for t in self._types if t.api_version == api_version]
        elif "." in ref:
            name, _, group = ref.partition(".")
            candidates = [t for t in self._types if t.group == group]
        else:
            name, candidates = ref, sorted(self._types, key=lambda t: t.group != "")
        for t in candidates:
            if name in (t.kind, t.plural, t.singular) or name in t.short_names:
                return t
        raise LookupError(f"the emulator does not serve a resource named {ref!r}")

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions per group ("" = core), in catalogue order."""
        result: dict[str, list[str]] = {}
        for t in self._types:
            versions = result.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if (t.group, t.version) == (group, version)]


def _from_kmock(key: str, info: Any) -> ResourceType:
    group, version, plural = key.split("/")
    kind = info.kind or plural.capitalize()
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        singular=info.singular or kind.lower(),
        namespaced=bool(info.namespaced),
        verbs=tuple(sorted(set(info.verbs) - UNSUPPORTED_VERBS)),
        short_names=tuple(sorted(info.shortnames)),
        categories=tuple(sorted(info.categories)),
        subresources=tuple(_subresource(kind, sub) for sub in sorted(info.subresources) if sub in SERVED_SUBRESOURCES),
    )


@functools.cache
def builtin_catalog() -> Catalog:
    """The served subset of kmock's bundled snapshot (loaded once per process)."""
    bundled = kmock.ResourcesArray()
    with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        bundled.load_bundled()
    infos: Mapping[str, Any] = {f"{r.group}/{r.version}/{r.plural}": bundled[r] for r in bundled}
    missing = [key for key in SERVED_RESOURCES if key not in infos]
    if missing:  # a kmock upgrade changed its snapshot: fail loudly rather than serve a partial API
        raise RuntimeError(f"kmock's bundled resource catalogue lacks {missing}")
    return Catalog(_from_kmock(key, infos[key]) for key in SERVED_RESOURCES)
