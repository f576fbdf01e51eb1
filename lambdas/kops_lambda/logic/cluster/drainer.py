"""The Spot handler's own identity in each cluster, and the one credential it reads: `kops-onboard/clusters/
<cluster>/spot-drainer` in Secrets Manager (the stack's key, our tags, a resource policy that lets only the
Spot handler's role read it). JSON: server URL, CA, cluster id, mode and, in service-account mode, the token
and its expiry. The admin kubeconfig is read by onboarding to write it, never by the Spot handler.

Two modes: the cluster's identity mode, as ValidateCluster resolved and recorded it (identity_mode.py):

* `authenticator`: aws-iam-authenticator runs. MapIdentity maps the Spot handler's role (its ARN is the
  stack's configuration, never the execution's input) to the group `kops-onboard:spot-drainer`, with the
  vendor user's code path (identity_mapping.py, crd_mapping.py); the handler mints a token for its own role
  (`authenticator_token`) and nothing secret is stored. A drainer ServiceAccount left from an earlier
  onboarding without the authenticator is removed (its token would stay valid otherwise).
* `service-account`: no authenticator (or `identity_mode: service-account` asked for). ServiceAccount
  `kube-system/kops-onboard-spot-drainer`, bound to the ClusterRole `kops-onboard:spot-drainer`, with a Role
  that lets it request tokens for itself only; onboarding stores a TokenRequest token of it that expires after
  DRAINER_TOKEN_SECONDS. `renew_drainer_credential` renews it with the drainer's own token (the canary calls
  it), so the admin kubeconfig is not needed again.
"""

from typing import Any

import urllib3

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.kubeconfig import api_client, cluster_endpoint, load_kubeconfig
from kops_lambda.adapters.secrets import write_secret
from kops_lambda.constants import (
    KUBE_SYSTEM,
    SPOT_DRAINER_SERVICE_ACCOUNT,
    TAG_CLUSTER,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    drainer_secret_name,
)
from kops_lambda.errors import InvalidSettings
from kops_lambda.logic.cluster.access import check_access
from kops_lambda.logic.cluster.apply import ensure_objects
from kops_lambda.logic.cluster.drainer_client import drainer_api_client
from kops_lambda.logic.cluster.rbac import SPOT_DRAINER_ROLE, cluster_role, spot_drainer_rules
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.cluster.service_account import (
    IssuedToken,
    ServiceAccountSpec,
    delete_service_account,
    ensure_service_account,
    request_token,
)
from kops_lambda.logic.rollback.report import Report
from kops_lambda.models.cluster import DrainerCredentialResult, ObjectStatus
from kops_lambda.models.drainer import DrainerCredential, DrainerMode
from kops_lambda.models.onboarding import kops_minor

DRAINER_ACCOUNT = ServiceAccountSpec(
    namespace=KUBE_SYSTEM,
    name=SPOT_DRAINER_SERVICE_ACCOUNT,
    cluster_role=SPOT_DRAINER_ROLE,
    purpose="the kops-onboard Spot handler: cordon and drain nodes of interrupted Spot instances",
    self_renewal=True,
)
# A day: short enough that a copied token is worthless by tomorrow, long enough that the canary (every
# 15 minutes) renews it dozens of times before it expires, so a canary outage of hours costs no drain.
DRAINER_TOKEN_SECONDS = 24 * 3600
# kOps versions whose authenticator addon (v0.4.0) accepts tokens for the global STS endpoint only.
GLOBAL_STS_KOPS_VERSIONS = frozenset({"1.11", "1.15"})


def needs_global_sts_endpoint(kops_version: str) -> bool:
    """Whether the cluster's aws-iam-authenticator accepts only tokens for the global STS endpoint."""
    return kops_minor(kops_version) in GLOBAL_STS_KOPS_VERSIONS


def issue_drainer_credential(
    secretsmanager: Any,
    *,
    kubeconfig_secret_arn: str,
    cluster_name: str,
    mode: DrainerMode,
    kops_version: str,
    spot_role_arn: str | None,
    kms_key_id: str | None,
    spot_force_delete: bool,
) -> DrainerCredentialResult:
    """Ensure the cluster side of the drainer identity (as the admin of the kubeconfig secret) and store its
    credential, a new version each run; the server URL and CA are the admin kubeconfig's."""
    if not spot_role_arn:
        raise InvalidSettings("SPOT_HANDLER_ROLE_ARN is not set: nobody could read the drainer credential")
    kubeconfig = load_kubeconfig(secretsmanager, kubeconfig_secret_arn)
    endpoint = cluster_endpoint(kubeconfig)
    credential = DrainerCredential(
        cluster_id=cluster_name,
        server=endpoint.server,
        ca_pem=endpoint.ca_pem,
        mode=mode,
        global_sts_endpoint=mode == "authenticator" and needs_global_sts_endpoint(kops_version),
    )
    with api_client(kubeconfig) as api:
        check_access(api)
        rest = KubeRest(api)
        objects: list[ObjectStatus] = []
        if mode == "service-account":
            # The ClusterRole MapIdentity writes too (idempotent): the binding must not point at nothing.
            rules = spot_drainer_rules(force_delete=spot_force_delete)
            objects = ensure_objects(rest, [cluster_role(SPOT_DRAINER_ROLE, rules)])
            objects += ensure_service_account(rest, DRAINER_ACCOUNT, cluster_name=cluster_name)
            issued = request_token(rest, DRAINER_ACCOUNT, expiration_seconds=DRAINER_TOKEN_SECONDS)
            credential = _with_token(credential, issued)
        else:
            delete_service_account(rest, DRAINER_ACCOUNT, Report())
    secret_arn = store_drainer_credential(
        secretsmanager, credential, kms_key_id=kms_key_id, reader_arns=[spot_role_arn]
    )
    return DrainerCredentialResult(
        mode=credential.mode,
        secret_arn=secret_arn,
        service_account=credential.service_account,
        token_expires_at=credential.expires_at,
        objects=objects,
    )


def _with_token(credential: DrainerCredential, issued: IssuedToken) -> DrainerCredential:
    return credential.model_copy(
        update={
            "service_account": f"{DRAINER_ACCOUNT.namespace}/{DRAINER_ACCOUNT.name}",
            "token": issued.token,
            "expires_at": issued.expires_at,
        }
    )


def store_drainer_credential(
    secretsmanager: Any, credential: DrainerCredential, *, kms_key_id: str | None, reader_arns: list[str]
) -> str:
    with translated_aws_errors("store the drainer credential"):
        return write_secret(
            secretsmanager,
            name=drainer_secret_name(credential.cluster_id),
            value=credential.model_dump_json(),
            kms_key_id=kms_key_id,
            description=f"kops-onboard: the Spot handler's credential for cluster {credential.cluster_id}",
            tags=[
                {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE},
                {"Key": TAG_CLUSTER, "Value": credential.cluster_id},
            ],
            reader_arns=reader_arns,
        )


def renew_drainer_credential(
    secretsmanager: Any, credential: DrainerCredential, *, retries: urllib3.Retry
) -> DrainerCredential:
    """A new token requested with the current one (the drainer may request tokens for itself only), stored
    as the secret's new version: PutSecretValue only, so whoever renews (the canary) needs no right to create
    the secret or change who may read it. Authenticator mode has nothing to renew."""
    if credential.mode == "authenticator":
        return credential
    with drainer_api_client(credential, None, retries=retries) as api:
        issued = request_token(KubeRest(api), DRAINER_ACCOUNT, expiration_seconds=DRAINER_TOKEN_SECONDS)
    renewed = _with_token(credential, issued)
    with translated_aws_errors("store the renewed drainer credential"):
        secretsmanager.put_secret_value(
            SecretId=drainer_secret_name(credential.cluster_id), SecretString=renewed.model_dump_json()
        )
    return renewed
