"""Credential onboarding through the synthesized state machine: end state, reruns, rotation, sharing."""

import json
from typing import Any

import pytest
from kubernetes import client as k8s

from kops_lambda.adapters.kubeconfig import api_client
from kops_local.seed import ClusterSpec
from kops_local.system import LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from tests.kube_clients import typed
from tests.kube_status import status_of
from tests.rollback.account_state import assert_same, system_state

SHARED_POLICY = "arn:aws:iam::123456789012:policy/CASTKopsPolicyV2"


def _onboard(system: LocalSystem, cluster: LocalCluster, **options: Any) -> ExecutionResult:
    result = run_execution(
        system.aws.client("stepfunctions"),
        system.state_machines["onboard"],
        {**cluster.onboard_input(), **options},
        name_prefix="e2e-cred",
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result


def _keys(system: LocalSystem, user: str) -> list[str]:
    return [k["AccessKeyId"] for k in system.aws.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]]


def _secret(system: LocalSystem, arn: str) -> dict[str, Any]:
    return dict(json.loads(system.aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]))


@pytest.fixture(scope="module")
def cluster(local_system: LocalSystem) -> LocalCluster:
    return local_system.add_cluster(ClusterSpec.parse("cred.k8s.local:kops=1.20,nodes=2"))


@pytest.fixture(scope="module")
def first_run(local_system: LocalSystem, cluster: LocalCluster) -> ExecutionResult:
    return _onboard(local_system, cluster)


def test_end_state_of_a_first_onboarding(local_system: LocalSystem, cluster: LocalCluster, first_run: Any) -> None:
    iam = local_system.aws.client("iam")
    out = first_run.output
    user = out["iam"]["user_name"]
    # The cluster runs the authenticator: auto (the default) resolved to it
    assert out["cluster"]["identity_mode"] == "authenticator"
    assert out["identity_mapping"]["backend"] == "EKSConfigMap"
    # The user and everything attached to it
    assert user == "cast-kops-cred.k8s.local"
    attached = {p["PolicyName"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
    own = {arn.rsplit("/", 1)[-1] for arn in out["iam"]["cluster_policy_arns"]}
    assert own and all(name.startswith(f"{user}-policy-") for name in own)
    assert attached == {
        "AmazonEC2ReadOnlyAccess",
        "IAMReadOnlyAccess",
        "AmazonEventBridgeReadOnlyAccess",
        "AWSLambda_ReadOnlyAccess",
        "CASTKopsPolicyV2",
        *own,
    }
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    documents = json.dumps(_cluster_documents(iam, out["iam"]["cluster_policy_arns"]))
    assert cluster.name in documents and f"vpc/{cluster.aws.vpc_id}" in documents
    # The shared role: EC2 read and the scoped logs/invoke policy, not the seed's account-wide two
    role_policies = iam.list_attached_role_policies(RoleName="CastLambdaRoleForSpot")["AttachedPolicies"]
    assert {p["PolicyName"] for p in role_policies} == {"AmazonEC2ReadOnlyAccess"}
    assert iam.list_role_policies(RoleName="CastLambdaRoleForSpot")["PolicyNames"] == ["CastLambdaRoleForSpotScoped"]
    # The key pair, with its private key only in a secret encrypted by the stack's key
    key_pair = out["key_pair"]
    pairs = local_system.aws.client("ec2").describe_key_pairs(KeyNames=[key_pair["key_name"]])["KeyPairs"]
    assert pairs[0]["KeyPairId"] == key_pair["key_pair_id"]
    stack_key = local_system.stack.attributes[
        next(k for k in local_system.stack.attributes if k[1] == "Arn" and k[0].startswith("SecretsKey"))
    ]
    sm = local_system.aws.client("secretsmanager")
    for arn in (key_pair["private_key_secret_arn"], out["access_key"]["secret_arn"]):
        assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == stack_key
    assert "PRIVATE KEY" in _secret(local_system, key_pair["private_key_secret_arn"])["PrivateKey"]
    # The access key: exactly one, stored, and its secret nowhere in the output
    stored = _secret(local_system, out["access_key"]["secret_arn"])
    assert _keys(local_system, user) == [out["access_key"]["access_key_id"]] == [stored["AccessKeyId"]]
    assert stored["SecretAccessKey"] not in json.dumps(out)
    # And only named principals (the writing function's own role, here) may read the secrets
    policy = json.loads(sm.get_resource_policy(SecretId=out["access_key"]["secret_arn"])["ResourcePolicy"])
    readers = policy["Statement"][0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert readers and all(":role/KopsOnboard-" in arn for arn in readers)
    # The registry records what this execution created
    item = local_system.aws.client("dynamodb").get_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{cluster.name}"}},
    )["Item"]
    resources = item["resources"]["M"]
    assert resources["iam"]["M"]["user_created"]["BOOL"] is True
    assert resources["iam"]["M"]["execution_id"]["S"] == first_run.execution_arn


def test_reruns_create_nothing_new_and_never_hit_the_key_limit(
    local_system: LocalSystem, cluster: LocalCluster, first_run: Any
) -> None:
    iam = local_system.aws.client("iam")
    versions_before = iam.list_policy_versions(PolicyArn=SHARED_POLICY)["Versions"]
    reruns = [_onboard(local_system, cluster) for _ in range(3)]
    for rerun in reruns:
        assert rerun.output["access_key"] == {**first_run.output["access_key"], "created": False}
        assert rerun.output["iam"]["user_arn"] == first_run.output["iam"]["user_arn"]
        assert rerun.output["key_pair"]["key_pair_id"] == first_run.output["key_pair"]["key_pair_id"]
    assert iam.list_policy_versions(PolicyArn=SHARED_POLICY)["Versions"] == versions_before
    assert len(_keys(local_system, first_run.output["iam"]["user_name"])) == 1


def test_rotation_leaves_exactly_the_new_key_stored(
    local_system: LocalSystem, cluster: LocalCluster, first_run: Any
) -> None:
    user = first_run.output["iam"]["user_name"]
    old = _keys(local_system, user)
    rotated = _onboard(local_system, cluster, rotate_access_key=True).output["access_key"]
    assert rotated["created"] and rotated["rotated_out_key_id"] == old[0]
    assert _keys(local_system, user) == [rotated["access_key_id"]]
    assert _secret(local_system, rotated["secret_arn"])["AccessKeyId"] == rotated["access_key_id"]


def test_long_cluster_name_and_a_second_cluster_share_policy_and_role(
    local_system: LocalSystem, first_run: Any
) -> None:
    name = "a-very-long-cluster-name-that-goes-on-and-on.production.k8s.example.co"
    assert len(name) == 70
    long_cluster = local_system.add_cluster(ClusterSpec.parse(f"{name}:kops=1.22,nodes=1"))
    out = _onboard(local_system, long_cluster).output
    assert len(out["iam"]["user_name"]) == 64 and out["iam"]["user_name"].startswith("cast-kops-a-very-long")
    assert out["iam"]["user_name"] != first_run.output["iam"]["user_name"]
    assert out["iam"]["shared_policy_arn"] == first_run.output["iam"]["shared_policy_arn"]
    assert out["iam"]["spot_role_arn"] == first_run.output["iam"]["spot_role_arn"]
    assert not out["iam"]["shared_policy_created"] and not out["iam"]["spot_role_created"]
    iam = local_system.aws.client("iam")
    documents = json.dumps(_cluster_documents(iam, out["iam"]["cluster_policy_arns"]))
    assert name in documents and "cred.k8s.local" not in documents


def test_a_sixth_document_keeps_the_default_and_prunes_the_oldest(
    local_system: LocalSystem, cluster: LocalCluster, first_run: Any
) -> None:
    # Given the shared policy with 5 versions, the default being an outdated document
    iam = local_system.aws.client("iam")
    current = iam.get_policy(PolicyArn=SHARED_POLICY)["Policy"]["DefaultVersionId"]
    outdated = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeTags", "Resource": "*"}],
    }
    for _ in range(5 - len(iam.list_policy_versions(PolicyArn=SHARED_POLICY)["Versions"])):
        iam.create_policy_version(PolicyArn=SHARED_POLICY, PolicyDocument=json.dumps(outdated), SetAsDefault=True)
    versions = iam.list_policy_versions(PolicyArn=SHARED_POLICY)["Versions"]
    assert len(versions) == 5
    oldest_non_default = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    # When onboarding runs again
    out = _onboard(local_system, cluster).output["iam"]
    # Then a new default version exists, the oldest non-default one is gone, and there are still 5
    after = iam.list_policy_versions(PolicyArn=SHARED_POLICY)["Versions"]
    assert len(after) == 5
    assert next(v for v in after if v["IsDefaultVersion"])["VersionId"] == out["shared_policy_version_created"]
    assert oldest_non_default["VersionId"] not in {v["VersionId"] for v in after}
    assert current != out["shared_policy_version_created"]


def _cluster_documents(iam: Any, arns: list[str]) -> list[Any]:
    """The default documents of the cluster's managed policies."""
    documents = []
    for arn in arns:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        documents.append(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
    return documents


# ---- Clusters without aws-iam-authenticator (identity_mode) ----


@pytest.fixture(scope="module")
def sa_cluster(local_system: LocalSystem) -> LocalCluster:
    """A kOps cluster without spec.authentication.aws (kOps' default) on a real kube-apiserver: its token
    controller fills ServiceAccount token Secrets and its authorizer judges the tokens."""
    return local_system.add_cluster(ClusterSpec.parse("cred-sa.k8s.local:kops=1.21,auth=none,nodes=2"), kube="real")


def test_a_cluster_without_the_authenticator_onboards_in_service_account_mode(
    local_system: LocalSystem, sa_cluster: LocalCluster
) -> None:
    # When the cluster is onboarded with the default identity_mode (auto)
    out = _onboard(local_system, sa_cluster).output
    # Then the execution output names the mode used, and MapIdentity gave the vendor a ServiceAccount
    assert out["cluster"]["identity_mode"] == "service-account"
    vendor = out["identity_mapping"]
    assert (vendor["mode"], vendor["service_account"]) == (
        "service-account",
        f"kube-system/cast-kops-{sa_cluster.name}",
    )
    # And the registry records the mode
    item = local_system.aws.client("dynamodb").get_item(
        TableName=local_system.output("RegistryTableName"),
        Key={"cluster_key": {"S": f"{local_system.region}#{sa_cluster.name}"}},
    )["Item"]
    assert item["facts"]["M"]["identity_mode"]["S"] == "service-account"
    # And no IAM identity mapping was written anywhere
    store = sa_cluster.api_server.store
    assert store.get("v1/configmaps", "kube-system", "aws-auth") is None
    assert store.get("v1/configmaps", "kube-system", "aws-iam-authenticator") is None
    # And the IAM user and its access key exist as in authenticator mode (the vendor's AWS side)
    assert out["iam"]["user_name"] == f"cast-kops-{sa_cluster.name}" and out["access_key"]["access_key_id"]
    # And the vendor's kubeconfig, as stored in Secrets Manager, lists nodes and is refused Secrets (403)
    kubeconfig = _secret(local_system, vendor["kubeconfig_secret_arn"])
    (entry,) = kubeconfig["clusters"]
    assert set(entry["cluster"]) == {"server", "certificate-authority-data"}
    with api_client(kubeconfig) as api:
        core = k8s.CoreV1Api(typed(api))
        with sa_cluster.api_client() as admin:
            every_node = {n.metadata.name for n in k8s.CoreV1Api(admin).list_node().items}
        assert every_node and {n.metadata.name for n in core.list_node().items} == every_node
        assert status_of(core.list_secret_for_all_namespaces) == 403
        assert (
            status_of(lambda: core.read_namespaced_secret(f"cast-kops-{sa_cluster.name}-token", "kube-system")) == 403
        )
    assert kubeconfig["users"][0]["user"]["token"] not in json.dumps(out)


def test_the_vendor_kubeconfig_is_kept_like_the_access_key(local_system: LocalSystem, sa_cluster: LocalCluster) -> None:
    # Given the cluster onboarded in service-account mode
    out = _onboard(local_system, sa_cluster).output
    sm = local_system.aws.client("secretsmanager")
    kubeconfig_arn, access_key_arn = out["identity_mapping"]["kubeconfig_secret_arn"], out["access_key"]["secret_arn"]
    # Then both secrets sit under the cluster's prefix, with the same KMS key and the same tags
    described = {arn: sm.describe_secret(SecretId=arn) for arn in (kubeconfig_arn, access_key_arn)}
    assert described[kubeconfig_arn]["Name"] == f"kops-onboard/clusters/{sa_cluster.name}/vendor-kubeconfig"
    assert described[kubeconfig_arn]["KmsKeyId"] == described[access_key_arn]["KmsKeyId"]
    assert described[kubeconfig_arn]["Tags"] == described[access_key_arn]["Tags"]
    # And the same resource policy: a deny of GetSecretValue to all but our writing function and named readers
    policies = {
        arn: json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"])["Statement"]
        for arn in (kubeconfig_arn, access_key_arn)
    }
    for statements in policies.values():
        (statement,) = statements
        readers = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert readers and all(":role/KopsOnboard-" in arn for arn in readers)
        assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
            "Deny",
            "*",
            "secretsmanager:GetSecretValue",
        )
    # And a rerun stored no new version
    assert out["identity_mapping"]["kubeconfig_secret_status"] == "unchanged"


def test_authenticator_mode_without_an_authenticator_fails_early_and_writes_nothing(
    local_system: LocalSystem,
) -> None:
    # Given a cluster without the authenticator, never onboarded
    cluster = local_system.add_cluster(ClusterSpec.parse("cred-noauth.k8s.local:kops=1.21,auth=none,nodes=1"))
    before = system_state(local_system)
    # When it is onboarded asking for the authenticator mode
    result = run_execution(
        local_system.aws.client("stepfunctions"),
        local_system.state_machines["onboard"],
        {**cluster.onboard_input(), "identity_mode": "authenticator"},
        name_prefix="e2e-cred-auth",
    )
    # Then ValidateCluster fails with AuthenticationNotEnabled and the kOps setting to turn on
    assert (result.status, result.error) == ("FAILED", "AuthenticationNotEnabled")
    assert result.cause is not None and "spec.authentication.aws: {}" in result.cause
    history = local_system.aws.client("stepfunctions").get_execution_history(
        executionArn=result.execution_arn, maxResults=1000
    )["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"]
    assert entered == ["RecordBaseline", "ValidateCluster", "RollbackRegistry"]
    # And the account and the cluster are exactly as before
    assert_same(before, system_state(local_system))
