"""The vendor's cluster identity where no aws-iam-authenticator maps its IAM user (identity_mode service-account).

A ServiceAccount named like the IAM user (`cast-kops-<cluster>`) in kube-system, bound to the ClusterRole
`kops-onboard:cast-service` (rbac.py) by a ClusterRoleBinding of the same name, with a
`kubernetes.io/service-account-token` Secret: a token without expiry, because the vendor keeps it as it keeps
the access key; offboarding (or a rollback) deletes the Secret, and the token stops authenticating at once.

Why kube-system and not the agent's namespace: it exists before MapIdentity runs (the agent's namespace comes
with InstallAgent, and the agent's rollback deletes that namespace with all it holds); its Secrets are
readable by cluster admins only (no role we create reads Secrets anywhere, the agent's neither); and the
identity lives and dies with MapIdentity / RemoveIdentityMapping, not with the agent.

Its kubeconfig holds the server and CA of the cluster's kubeconfig secret and the token, nothing else (no
exec, no file paths), stored beside the access key as `kops-onboard/clusters/<cluster>/vendor-kubeconfig`
with the same KMS key, tags and reader resource policy. A rerun that finds it exact writes no new version.
"""

import json
from typing import Any

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.kubeconfig import ClusterEndpoint, cluster_endpoint, load_kubeconfig
from kops_lambda.adapters.secrets import read_secret_json, restrict_readers, secret_arn, write_secret
from kops_lambda.constants import (
    KUBE_SYSTEM,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    vendor_kubeconfig_secret_name,
)
from kops_lambda.logic.cluster.access import cluster_api
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.rbac import CAST_SERVICE_ROLE, identity_rbac_objects
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import (
    ServiceAccountConnection,
    ServiceAccountSpec,
    connection_kubeconfig,
    ensure_service_account,
    ensure_token_secret,
    read_token_secret,
)
from kops_lambda.logic.iam_names import user_name
from kops_lambda.models.cluster import ObjectStatusValue
from kops_lambda.models.vendor_identity import VendorIdentityResult

PURPOSE = "the cost-optimization service's cluster access (identity_mode service-account)"


def vendor_service_account(cluster_name: str) -> ServiceAccountSpec:
    return ServiceAccountSpec(
        namespace=KUBE_SYSTEM, name=user_name(cluster_name), cluster_role=CAST_SERVICE_ROLE, purpose=PURPOSE
    )


def ensure_vendor_identity(
    secretsmanager: Any,
    kubeconfig_secret_arn: str,
    *,
    cluster_name: str,
    kms_key_id: str | None,
    reader_arns: list[str],
    spot_force_delete: bool = False,
) -> VendorIdentityResult:
    """Through the cluster's kubeconfig secret: our ClusterRoles (as in authenticator mode), the
    ServiceAccount, its binding and token Secret, then its kubeconfig stored. A token Secret the controller
    has not filled yet is ServiceAccountTokenPending (retried by the workflow); nothing is stored before."""
    endpoint = cluster_endpoint(load_kubeconfig(secretsmanager, kubeconfig_secret_arn))
    with cluster_api(secretsmanager, kubeconfig_secret_arn) as api:
        return _ensure(
            KubeRest(api),
            secretsmanager,
            cluster_name=cluster_name,
            endpoint=endpoint,
            kms_key_id=kms_key_id,
            reader_arns=reader_arns,
            spot_force_delete=spot_force_delete,
        )


def _ensure(
    rest: KubeRest,
    secretsmanager: Any,
    *,
    cluster_name: str,
    endpoint: ClusterEndpoint,
    kms_key_id: str | None,
    reader_arns: list[str],
    spot_force_delete: bool,
) -> VendorIdentityResult:
    spec = vendor_service_account(cluster_name)
    rbac = ensure_objects(rest, identity_rbac_objects(spot_force_delete=spot_force_delete))
    objects = ensure_service_account(rest, spec, cluster_name=cluster_name)
    objects.append(ensure_token_secret(rest, spec, cluster_name=cluster_name))
    token = read_token_secret(rest, spec)
    kubeconfig = connection_kubeconfig(
        ServiceAccountConnection(server=endpoint.server, ca_pem=endpoint.ca_pem, token=token.token),
        cluster_name=cluster_name,
        user=spec.name,
    )
    arn, status = store_vendor_kubeconfig(
        secretsmanager, cluster_name=cluster_name, kubeconfig=kubeconfig, kms_key_id=kms_key_id, reader_arns=reader_arns
    )
    return VendorIdentityResult(
        service_account=f"{spec.namespace}/{spec.name}",
        username=spec.username,
        cluster_role=spec.cluster_role,
        objects=objects,
        rbac=rbac,
        kubeconfig_secret_arn=arn,
        kubeconfig_secret_status=status,
    )


def store_vendor_kubeconfig(
    secretsmanager: Any,
    *,
    cluster_name: str,
    kubeconfig: dict[str, Any],
    kms_key_id: str | None,
    reader_arns: list[str],
) -> tuple[str, ObjectStatusValue]:
    """JSON (valid YAML, what kubectl reads), so the stored value compares exactly with the wanted one."""
    name = vendor_kubeconfig_secret_name(cluster_name)
    with translated_aws_errors("vendor kubeconfig secret"):
        stored = read_secret_json(secretsmanager, name)
        if stored == kubeconfig:
            restrict_readers(secretsmanager, name, reader_arns)
            return str(secret_arn(secretsmanager, name)), "unchanged"
        arn = write_secret(
            secretsmanager,
            name=name,
            value=json.dumps(kubeconfig, sort_keys=True),
            kms_key_id=kms_key_id,
            reader_arns=reader_arns,
            description=f"kops-onboard: kubeconfig of ServiceAccount {KUBE_SYSTEM}/{user_name(cluster_name)}",
            tags=[
                {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
                {"Key": TAG_CLUSTER, "Value": cluster_name},
            ],
        )
    return arn, "created" if stored is None else "updated"
