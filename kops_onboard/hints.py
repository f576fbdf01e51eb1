"""Plain-language fixes for the typed errors an execution can end with."""

HINTS: dict[str, str] = {
    "ClusterNotFound": (
        "No instance or Auto Scaling group carries the tag KubernetesCluster=<name> in that region. "
        "Check the cluster name (as in `kops get clusters`) and --region."
    ),
    "RegionNotCovered": (
        "This deployment's Spot rules do not cover the cluster's region. Add the region to the CDK context "
        "spotRegions (e.g. `cdk deploy --all -c spotRegions=us-east-1,eu-west-1`), deploy, then run again."
    ),
    "UnsupportedKopsVersion": (
        "Upgrade the cluster to a supported kOps release (1.11, 1.15, 1.17, 1.18, 1.20, 1.21 or 1.22) "
        "with `kops upgrade cluster`, then run onboarding again."
    ),
    "KopsVersionUnknown": "Pass --state-store (your KOPS_STATE_STORE) so the kOps version can be read from it.",
    "InvalidInput": "Fix the fields named in the message; `kops-onboard schema` prints the input schema.",
    "ClusterAccessError": (
        "The kubeconfig secret is missing, malformed, or its credentials are refused by the API server. "
        "Store a working kubeconfig in the secret and check it with kubectl."
    ),
    "UnsafeKubeconfig": (
        "The kubeconfig asks to run a command (exec, auth-provider), read a file (certificate-authority, "
        "client-certificate, client-key, tokenFile, ...) or skip TLS verification, which we never do. Store one "
        "with the content inline (certificate-authority-data, client-certificate-data and client-key-data, or a "
        "token), e.g. from `kops export kubecfg --admin`, then run again."
    ),
    "KubeconfigExpired": (
        "The kubeconfig's client certificate has expired (kOps admin certificates last 18 h by default). Export a "
        "fresh one with `kops export kubecfg --admin`, store it in the kubeconfig secret, then run again."
    ),
    "KubeApiUnavailable": (
        "The cluster's API server did not answer in time. Check that it is reachable from the Lambda functions "
        "(VPC, security groups, a private API endpoint) and run onboarding again."
    ),
    "AuthenticationNotEnabled": (
        "Onboard with --identity-mode auto (the default) or service-account to give the service a "
        "ServiceAccount instead, or enable the AWS IAM authenticator in the cluster spec "
        "(spec.authentication.aws: {}), then `kops update cluster --yes` and `kops rolling-update cluster --yes`."
    ),
    "MalformedAuthConfig": (
        "The authenticator ConfigMap does not parse; nothing was written. Fix its YAML (kubectl edit) first."
    ),
    "ForeignEntity": (
        "An IAM user or IAMIdentityMapping with our name exists and is not ours: remove it, or tag the user "
        "managed-by=kops-onboard."
    ),
    "IdentityMappingCrdMissing": (
        "backendMode lists CRD but the IAMIdentityMapping CRD is not installed: `kops update cluster --yes` "
        "applies it, or add EKSConfigMap to spec.authentication.aws.backendMode."
    ),
    "ConflictingIdentityMapping": (
        "Another IAMIdentityMapping maps our IAM user or role: remove it (kOps: from "
        "spec.authentication.aws.identityMappings) and run onboarding again."
    ),
    "KeyPairWithoutSecret": "Delete the cluster's EC2 key pair (or offboard the cluster) and run onboarding again.",
    "AccessKeyLimit": "The user has 2 access keys we did not create: delete one of them and run onboarding again.",
    "States.Timeout": "A step ran out of time; run onboarding again (every step is idempotent).",
    "ClusterBusy": (
        "Another execution (named above) is onboarding or offboarding this cluster. Wait until it has "
        "finished (`kops-onboard status`), then run again."
    ),
    "RollbackFailed": "The rollback could not finish; run onboarding again: it converges from where it stopped.",
}
# Where a command gives an error another meaning than onboarding does.
OFFBOARDING_HINTS: dict[str, str] = {
    "ClusterNotFound": (
        "The cluster is not in the registry: it was never onboarded in this account and region. Check the "
        "name and --region; `kops-onboard status` lists the registered clusters."
    ),
    "States.Timeout": "A step ran out of time; run offboarding again (every step is idempotent).",
}


def hint_for(error: str | None, purpose: str = "onboard") -> str:
    specific = OFFBOARDING_HINTS if purpose == "offboard" else {}
    default = "See the execution's history in the Step Functions console for details."
    return specific.get(error or "", HINTS.get(error or "", default))
