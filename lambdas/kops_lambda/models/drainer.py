"""The Spot handler's per-cluster credential: the secret's JSON. It lives in Secrets Manager only (in
service-account mode it holds a token); what IssueDrainerCredential returns, naming it, is
models/cluster.DrainerCredentialResult.
"""

from datetime import datetime

from pydantic import Field

from kops_lambda.models.base import ResolvedIdentityMode, StrictModel

# The cluster's identity mode. authenticator: the handler mints an aws-iam-authenticator token for its own
# role (mapped at MapIdentity); service-account: the token of ServiceAccount kube-system/kops-onboard-spot-
# drainer, stored in the secret.
DrainerMode = ResolvedIdentityMode


class DrainerCredential(StrictModel):
    cluster_id: str = Field(description="The cluster's name: the authenticator's cluster id")
    server: str
    ca_pem: str | None = Field(description="PEM of the API server's CA (None: plain http, local tests only)")
    mode: DrainerMode
    global_sts_endpoint: bool = Field(
        default=False,
        description="authenticator mode: tokens name the global STS endpoint (kOps 1.11/1.15 run an "
        "aws-iam-authenticator before v0.5, which accepts no other)",
    )
    service_account: str | None = Field(default=None, description="namespace/name (service-account mode)")
    token: str | None = Field(default=None, repr=False, description="service-account mode only")
    expires_at: datetime | None = Field(default=None, description="When the token expires")
