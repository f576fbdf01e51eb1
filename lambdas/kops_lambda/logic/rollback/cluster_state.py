"""The cluster side of the baseline (what the in-cluster steps may create or change), and the removal of
our objects: only those carrying our managed-by label, each deleted at the resourceVersion we read."""

from collections.abc import Sequence
from dataclasses import dataclass

from kops_lambda.constants import (
    AGENT_API_URL_DEFAULT,
    AUTH_CONFIG_HASH_ANNOTATION,
    AUTHENTICATOR_CONFIGMAP,
    AUTHENTICATOR_DAEMONSET,
    AWS_AUTH_CONFIGMAP,
    IDENTITY_MAPPING_API_VERSION,
    KUBE_SYSTEM,
    MANAGED_BY_LABEL,
    PRODUCT,
    RESTARTED_AT_ANNOTATION,
)
from kops_lambda.logic.cluster.agent_manifests import AgentSettings, agent_objects
from kops_lambda.logic.cluster.crd_mapping import KIND as IDENTITY_MAPPING_KIND
from kops_lambda.logic.cluster.crd_mapping import object_names as identity_mapping_names
from kops_lambda.logic.cluster.drainer import DRAINER_ACCOUNT
from kops_lambda.logic.cluster.identity_mapping import mounted_configmap_name
from kops_lambda.logic.cluster.kube_router import DAEMONSET_PATH as KUBE_ROUTER_PATH
from kops_lambda.logic.cluster.rbac import identity_rbac_objects
from kops_lambda.logic.cluster.rest import MAX_WRITE_ATTEMPTS, Conflict, JsonObject, KubeRest, kind_of
from kops_lambda.logic.cluster.service_account import service_account_objects
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.rollback import ClusterBaseline, ConfigMapSnapshot, ObjectSnapshot

AUTHENTICATOR_PATH = f"/apis/apps/v1/namespaces/{KUBE_SYSTEM}/daemonsets/{AUTHENTICATOR_DAEMONSET}"
OUR_ANNOTATIONS = (RESTARTED_AT_ANNOTATION, AUTH_CONFIG_HASH_ANNOTATION)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def path(self) -> str:
        return kind_of({"apiVersion": self.api_version, "kind": self.kind}).object_path(self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def _refs(objects: list[JsonObject]) -> list[ObjectRef]:
    return [
        ObjectRef(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    ]


def identity_mapping_refs() -> list[ObjectRef]:
    """MapIdentity's IAMIdentityMapping objects (CRD backend), in creation order."""
    return [ObjectRef(IDENTITY_MAPPING_API_VERSION, IDENTITY_MAPPING_KIND, None, n) for n in identity_mapping_names()]


def identity_object_refs() -> list[ObjectRef]:
    """MapIdentity's objects, in creation order: its IAMIdentityMappings (a cluster without the CRD answers
    404 for them: absent), then its RBAC."""
    return [*identity_mapping_refs(), *_refs(identity_rbac_objects())]


def drainer_object_refs() -> list[ObjectRef]:
    """IssueDrainerCredential's ServiceAccount and its RBAC (service-account mode), in creation order."""
    return _refs(service_account_objects(DRAINER_ACCOUNT))


def agent_object_refs() -> list[ObjectRef]:
    """Every object InstallAgent may create, in creation order (names only: rendered without a key)."""
    settings = AgentSettings(
        cluster_name="-", region="-", api_url=AGENT_API_URL_DEFAULT, state_store=None, critical_priority=True
    )
    return _refs(agent_objects(settings, api_key=""))


def configmap_path(name: str) -> str:
    return f"/api/v1/namespaces/{KUBE_SYSTEM}/configmaps/{name}"


def annotations_of(daemonset: JsonObject) -> dict[str, str | None]:
    found = daemonset.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return {key: found.get(key) for key in OUR_ANNOTATIONS}


def tolerations_of(daemonset: JsonObject) -> list[JsonObject]:
    return list(daemonset.get("spec", {}).get("template", {}).get("spec", {}).get("tolerations") or [])


def snapshot_cluster(rest: KubeRest, *, extra: Sequence[ObjectRef] = ()) -> ClusterBaseline:
    """`extra`: objects of ours whose names depend on the cluster (the vendor's ServiceAccount)."""
    authenticator = rest.get(AUTHENTICATOR_PATH)
    names = [AWS_AUTH_CONFIGMAP, AUTHENTICATOR_CONFIGMAP]
    if authenticator is not None and mounted_configmap_name(authenticator) not in names:
        names.append(mounted_configmap_name(authenticator))
    configmaps = []
    for name in names:
        current = rest.get(configmap_path(name))
        configmaps.append(
            ConfigMapSnapshot(
                name=name,
                resource_version=str(current["metadata"]["resourceVersion"]) if current else None,
                data=dict(current.get("data") or {}) if current else None,
            )
        )
    kube_router = rest.get(KUBE_ROUTER_PATH)
    objects = []
    for ref in [*identity_object_refs(), *drainer_object_refs(), *agent_object_refs(), *extra]:
        found = rest.get(ref.path)
        if found is not None:
            objects.append(
                ObjectSnapshot(
                    api_version=ref.api_version,
                    kind=ref.kind,
                    namespace=ref.namespace,
                    name=ref.name,
                    resource_version=str(found["metadata"]["resourceVersion"]),
                )
            )
    return ClusterBaseline(
        configmaps=configmaps,
        authenticator_annotations=annotations_of(authenticator) if authenticator is not None else None,
        kube_router_tolerations=tolerations_of(kube_router) if kube_router is not None else None,
        objects=objects,
    )


def labelled_ours(obj: JsonObject) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT


def delete_ours(rest: KubeRest, ref: ObjectRef, report: Report) -> None:
    """Delete the object if it carries our label, at the resourceVersion read (a concurrent write: read
    again); absent already = done. An object without our label is someone else's and stays."""
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = rest.get(ref.path)
        if current is None:
            return
        if not labelled_ours(current):
            report.kept.append(f"{ref}: not labelled {MANAGED_BY_LABEL}={PRODUCT}")
            return
        try:
            rest.delete(ref.path, resource_version=str(current["metadata"]["resourceVersion"]))
        except Conflict:
            continue
        report.removed.append(str(ref))
        return
    report.kept.append(f"{ref}: still changing after {MAX_WRITE_ATTEMPTS} attempts")


def restore_annotations(rest: KubeRest, wanted: dict[str, str | None], report: Report) -> None:
    """Put our two pod-template annotations of the authenticator back as they were. The template changes,
    so its pods roll and load the mapping config as it now is."""
    daemonset = rest.get(AUTHENTICATOR_PATH)
    if daemonset is None or annotations_of(daemonset) == wanted:
        return
    patch = {"spec": {"template": {"metadata": {"annotations": dict(wanted)}}}}
    rest.merge_patch(AUTHENTICATOR_PATH, patch)
    report.restored.append(f"DaemonSet {KUBE_SYSTEM}/{AUTHENTICATOR_DAEMONSET} pod template (its pods roll)")
