"""The CRD backend of aws-iam-authenticator: our IAMIdentityMapping objects.

The authenticator (backend mode `CRD`) watches the cluster-scoped `IAMIdentityMapping` objects of the
CRD `iamidentitymappings.iamauthenticator.k8s.aws` (apiVersion `iamauthenticator.k8s.aws/v1alpha1`,
spec `arn`, `username`, `groups`; its controller fills `status.canonicalARN`, which it indexes). We write
one object per principal, named `kops-onboard-cast-service` / `kops-onboard-spot-drainer` and labelled
as ours, so they never collide with kOps' `iam-identity-mapping-<n>` (from
`spec.authentication.aws.identityMappings`), which we never write.

* The CRD must be served (read from discovery, which every identity may read), else
  IdentityMappingCrdMissing, nothing written.
* An object of another owner mapping one of our ARNs → ConflictingIdentityMapping, nothing written: the
  authenticator would pick either of the two for that ARN.
* An object with our name but not our label → ForeignEntity (never taken over).
* Otherwise each of ours is created or put back (apply.py: a rerun that finds them exact writes
  nothing); the previous labels and spec of each object we wrote go to the registry for rollback.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from kops_lambda.constants import (
    CAST_SERVICE_IDENTITY_MAPPING,
    IDENTITY_MAPPING_API_VERSION,
    IDENTITY_MAPPING_CRD,
    MANAGED_BY_LABEL,
    PRODUCT,
    SPOT_DRAINER_IDENTITY_MAPPING,
)
from kops_lambda.errors import ConflictingIdentityMapping, ForeignEntity, IdentityMappingCrdMissing
from kops_lambda.logic.cluster.apply import converge_object
from kops_lambda.logic.cluster.auth_config import DesiredMapping, UpsertStatus
from kops_lambda.logic.cluster.rbac import managed_labels
from kops_lambda.logic.cluster.rest import JsonObject, KubeRest, kind_of
from kops_lambda.models.cluster import (
    CrdObjectBackup,
    IdentityMappingCrdBackup,
    MappingStatus,
    ObjectStatus,
    ObjectStatusValue,
)

KIND = "IAMIdentityMapping"
_DISCOVERY_PATH = f"/apis/{IDENTITY_MAPPING_API_VERSION}"
_NAMES = {"user": CAST_SERVICE_IDENTITY_MAPPING, "role": SPOT_DRAINER_IDENTITY_MAPPING}


@dataclass(frozen=True)
class CrdChange:
    objects: list[ObjectStatus]
    statuses: list[MappingStatus]
    backup: IdentityMappingCrdBackup | None


def object_names() -> tuple[str, ...]:
    """Every IAMIdentityMapping we may write, in creation order."""
    return tuple(_NAMES.values())


def identity_mapping_object(mapping: DesiredMapping) -> JsonObject:
    return {
        "apiVersion": IDENTITY_MAPPING_API_VERSION,
        "kind": KIND,
        "metadata": {"name": _NAMES[mapping.kind], "labels": managed_labels()},
        "spec": {"arn": mapping.arn, "username": mapping.username, "groups": list(mapping.groups)},
    }


def crd_served(rest: KubeRest) -> bool:
    resources = (rest.get(_DISCOVERY_PATH) or {}).get("resources") or []
    return any(r.get("name") == "iamidentitymappings" for r in resources)


def ensure_crd_mappings(rest: KubeRest, desired: Sequence[DesiredMapping], *, cluster_name: str) -> CrdChange:
    if not crd_served(rest):
        raise IdentityMappingCrdMissing(
            f"cluster {cluster_name}: the authenticator's backend mode is CRD but the cluster does not serve "
            f"the CustomResourceDefinition {IDENTITY_MAPPING_CRD}: apply kOps' authentication addon "
            f"(`kops update cluster {cluster_name} --yes`) or add EKSConfigMap to "
            "spec.authentication.aws.backendMode"
        )
    bodies = [identity_mapping_object(m) for m in desired]
    refuse_foreign_mappings(rest, desired, cluster_name=cluster_name)
    objects: list[ObjectStatus] = []
    statuses: list[MappingStatus] = []
    backups: list[CrdObjectBackup] = []
    for mapping, body in zip(desired, bodies, strict=True):
        converged = converge_object(rest, body)
        objects.append(converged.status)
        statuses.append(
            MappingStatus(
                kind=mapping.kind,
                arn=mapping.arn,
                username=mapping.username,
                groups=list(mapping.groups),
                status=_mapping_status(converged.status.status),
            )
        )
        if converged.written is not None:
            previous = converged.previous
            backups.append(
                CrdObjectBackup(
                    name=body["metadata"]["name"],
                    previous=_owned_state(previous) if previous is not None else None,
                    written_resource_version=str(converged.written["metadata"]["resourceVersion"]),
                )
            )
    return CrdChange(objects, statuses, IdentityMappingCrdBackup(objects=backups) if backups else None)


def _owned_state(obj: JsonObject) -> JsonObject:
    """What rollback puts back: the object's labels and spec."""
    return {"labels": dict(obj.get("metadata", {}).get("labels") or {}), "spec": dict(obj.get("spec") or {})}


def _mapping_status(status: ObjectStatusValue) -> UpsertStatus:
    return "added" if status == "created" else status


def refuse_foreign_mappings(rest: KubeRest, desired: Sequence[DesiredMapping], *, cluster_name: str) -> None:
    """ForeignEntity / ConflictingIdentityMapping when another owner's object has our name or one of our ARNs."""
    collection = kind_of({"apiVersion": IDENTITY_MAPPING_API_VERSION, "kind": KIND}).collection_path(None)
    ours = {_NAMES[m.kind]: m for m in desired}
    arns = {m.arn.lower(): m for m in desired}
    for item in (rest.get(collection) or {}).get("items") or []:
        name = str(item.get("metadata", {}).get("name", ""))
        labelled = (item.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT
        if name in ours and not labelled:
            raise ForeignEntity(
                f"cluster {cluster_name}: IAMIdentityMapping {name} exists without the label "
                f"{MANAGED_BY_LABEL}={PRODUCT}; it is not ours, so we leave it: remove or rename it"
            )
        arn = str((item.get("spec") or {}).get("arn", "")).lower()
        if arn in arns and not (labelled and name in ours):
            raise ConflictingIdentityMapping(
                f"cluster {cluster_name}: IAMIdentityMapping {name} maps {arns[arn].arn}, which kops-onboard maps "
                f"as {_NAMES[arns[arn].kind]}; the authenticator would use either: remove that mapping "
                "(kOps: spec.authentication.aws.identityMappings)"
            )
