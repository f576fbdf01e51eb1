"""`kops-onboard onboard`'s summary of an execution's output: the identity mode and where the vendor's access is."""

from kops_onboard.commands.onboarding import summarize

CLUSTER = {"cluster_name": "a.k8s.local", "kops_version": "1.21.4"}
SECRET = (
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:kops-onboard/clusters/a.k8s.local/vendor-kubeconfig-AbCdEf"
)


def test_service_account_mode_names_the_account_and_its_kubeconfig_secret() -> None:
    output = {
        "cluster": {**CLUSTER, "identity_mode": "service-account"},
        "identity_mapping": {
            "mode": "service-account",
            "service_account": "kube-system/cast-kops-a.k8s.local",
            "kubeconfig_secret_arn": SECRET,
        },
    }
    summary = summarize(output)
    assert summary["identity_mode"] == "service-account"
    assert summary["identity_mapping"] == "kube-system/cast-kops-a.k8s.local"
    assert summary["vendor_kubeconfig_secret_arn"] == SECRET


def test_authenticator_mode_names_the_configmap_and_no_vendor_kubeconfig() -> None:
    output = {
        "cluster": {**CLUSTER, "identity_mode": "authenticator"},
        "identity_mapping": {"backend": "EKSConfigMap", "configmap": "kube-system/aws-auth"},
    }
    summary = summarize(output)
    assert (summary["identity_mode"], summary["identity_mapping"]) == ("authenticator", "kube-system/aws-auth")
    assert summary["vendor_kubeconfig_secret_arn"] is None
