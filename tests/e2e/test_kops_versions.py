"""Every supported kOps version, onboarded through the state machine with the backend kOps uses there."""

import pytest
import yaml

from kops_local.seed import ClusterSpec
from kops_local.system import LocalSystem
from kops_onboard.executions import run_execution

# kOps < 1.19 runs the authenticator in MountedFile mode (its own ConfigMap, read at start-up);
# the seeded 1.19+ clusters use backendMode EKSConfigMap (aws-auth). The CRD backend is not here: the local
# system's emulator serves no CRDs; tests/cluster/test_identity_mapping_crd.py covers it on the real control plane.
EXPECTED = {
    "1.11": ("MountedFile", "aws-iam-authenticator"),
    "1.15": ("MountedFile", "aws-iam-authenticator"),
    "1.17": ("MountedFile", "aws-iam-authenticator"),
    "1.18": ("MountedFile", "aws-iam-authenticator"),
    "1.20": ("EKSConfigMap", "aws-auth"),
    "1.21": ("EKSConfigMap", "aws-auth"),
    "1.22": ("EKSConfigMap", "aws-auth"),
}


@pytest.mark.parametrize("version", sorted(EXPECTED))
def test_supported_version_onboards_into_the_authenticator_it_reads(local_system: LocalSystem, version: str) -> None:
    # Given a seeded cluster of that version with kube-router networking
    name = f"v{version.replace('.', '-')}.k8s.local"
    cluster = local_system.add_cluster(ClusterSpec.parse(f"{name}:kops={version},networking=kube-router,nodes=1"))
    # When it is onboarded
    result = run_execution(
        local_system.aws.client("stepfunctions"),
        local_system.state_machines["onboard"],
        cluster.onboard_input(),
        name_prefix=f"e2e-{version}",
    )
    # Then the user is mapped where that version's authenticator reads it
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    backend, configmap = EXPECTED[version]
    mapping = result.output["identity_mapping"]
    assert mapping["backend"] == backend and mapping["configmap"] == f"kube-system/{configmap}"
    data = cluster.api_server.store.get("configmaps", "kube-system", configmap)["data"]
    user_arn = result.output["iam"]["user_arn"]
    if backend == "MountedFile":
        users = yaml.safe_load(data["config.yaml"])["server"]["mapUsers"]
        assert [u["userARN"] for u in users].count(user_arn) == 1
    else:
        users = yaml.safe_load(data["mapUsers"])
        assert [u["userarn"] for u in users].count(user_arn) == 1
    assert all("system:masters" not in u.get("groups", []) for u in users if user_arn in str(u))
    # And kube-router's tolerations are fixed on 1.17 only
    kube_router = result.output["agent"]["kube_router"]["status"]
    assert kube_router == ("patched" if version == "1.17" else "already-tolerant")
