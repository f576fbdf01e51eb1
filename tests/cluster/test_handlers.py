"""The MapIdentity and InstallAgent handlers: one invocation each, as Step Functions makes it."""

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from kops_lambda.errors import AuthenticationNotEnabled, InvalidInput
from kops_lambda.handlers import install_agent, map_identity
from kops_lambda.logic.registry import record_onboarding
from kops_lambda.models.cluster import IdentityMappingCrdBackup
from kops_lambda.models.credentials import IamEntities
from kops_lambda.observability import logger as powertools_logger
from kops_local.lambda_context import LambdaContext

from .conftest import API_KEY, REGION, Cluster, MakeCluster, aws_client, dumps

TABLE = "kops-onboard-registry-cluster-tests"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def registry(aws_account: None) -> Iterator[Any]:
    aws_client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "cluster_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "cluster_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield boto3.resource("dynamodb", region_name=REGION).Table(TABLE)


@pytest.fixture
def lambda_env(registry: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REGISTRY_TABLE_NAME", TABLE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "KopsOnboard")
    monkeypatch.delenv("SPOT_HANDLER_ROLE_ARN", raising=False)
    monkeypatch.delenv("AGENT_API_URL", raising=False)
    yield


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every line the Powertools logger emits during the test, formatted as in Lambda."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(powertools_logger.registered_formatter)
    powertools_logger._logger.addHandler(handler)
    yield lines
    powertools_logger._logger.removeHandler(handler)


def context(name: str) -> LambdaContext:
    return LambdaContext(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        memory_limit_in_mb=256,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="test",
        deadline_monotonic=time.monotonic() + 60,
    )


def event(
    cluster: Cluster, registry: Any, *, execution_id: str | None = None, identity_mode: str | None = None
) -> dict[str, Any]:
    """`identity_mode`: as ValidateCluster records it (None: a record from before identity modes)."""
    execution_id = execution_id or f"exec-{uuid.uuid4().hex[:8]}"
    mode = {"identity_mode": identity_mode} if identity_mode else {}
    record_onboarding(
        registry,
        region=REGION,
        cluster_name=cluster.name,
        execution_id=execution_id,
        kubeconfig_secret_arn=cluster.kubeconfig_secret_arn,
        facts={"kops_version": cluster.facts.kops_version, **mode},
        admin_kubeconfig={"credential": "token", "expires_at": None},
    )
    iam = IamEntities(
        user_name=cluster.user_name,
        user_arn=cluster.user_arn,
        user_created=True,
        managed_policy_arns=[],
        attached_policy_arns=[],
        shared_policy_arn=f"arn:aws:iam::{cluster.account}:policy/CASTKopsPolicyV2",
        shared_policy_created=True,
        shared_policy_version_created=None,
        cluster_policy_arns=[],
        cluster_policies_created=[],
        legacy_inline_policy_removed=False,
        spot_role_arn=f"arn:aws:iam::{cluster.account}:role/CastLambdaRoleForSpot",
        spot_role_created=True,
    )
    return {
        "execution_id": execution_id,
        "state": {
            "input": cluster.onboard_input().model_dump(mode="json"),
            "cluster": cluster.facts.model_dump(mode="json"),
            "iam": iam.model_dump(mode="json"),
        },
    }


def registry_item(registry: Any, cluster: Cluster) -> dict[str, Any]:
    item: dict[str, Any] = registry.get_item(Key={"cluster_key": f"{REGION}#{cluster.name}"})["Item"]
    return item


def test_map_identity_handler_returns_statuses_and_keeps_the_backup_in_the_registry(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a kOps 1.17 cluster (MountedFile) and the Spot handler's role in the environment
    cluster = make_cluster("kops=1.17")
    monkeypatch.setenv("SPOT_HANDLER_ROLE_ARN", cluster.spot_role_arn)
    original = cluster.configmap("aws-iam-authenticator")["data"]["config.yaml"]
    first = event(cluster, registry, execution_id="exec-first")
    # When the MapIdentity step runs
    output = map_identity.handler(first, context("MapIdentity"))
    # Then its output names what it did, without any ConfigMap data
    assert output["backend"] == "MountedFile"
    assert output["configmap_status"] == "updated"
    assert [(m["kind"], m["status"]) for m in output["mappings"]] == [("user", "added"), ("role", "added")]
    assert output["daemonset_restarted"] is True
    assert "kops-admin" not in dumps(output) and "backup" not in output
    # And the registry holds the backup of the key we changed, for rollback
    record = registry_item(registry, cluster)["resources"]["identity_mapping"]
    assert record["backup"]["previous_values"] == {"config.yaml": original}
    assert record["execution_id"] == "exec-first"

    # When a later execution runs the step again (nothing to change)
    again = map_identity.handler(event(cluster, registry, execution_id="exec-second"), context("MapIdentity"))
    # Then it reports unchanged and the first execution's backup stays in the registry
    assert again["configmap_status"] == "unchanged"
    record = registry_item(registry, cluster)["resources"]["identity_mapping"]
    assert record["execution_id"] == "exec-first"
    assert record["backup"]["previous_values"] == {"config.yaml": original}


def test_install_agent_handler_never_outputs_or_logs_the_api_key(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, logs: list[str]
) -> None:
    # Given a kOps 1.17 cluster with kube-router
    cluster = make_cluster("kops=1.17,networking=kube-router")
    # When the InstallAgent step runs
    output = install_agent.handler(event(cluster, registry), context("InstallAgent"))
    # Then the agent objects are created and kube-router is fixed, reported in the output
    assert {o["status"] for o in output["objects"]} == {"created"}
    assert output["kube_router"]["status"] == "patched"
    # And the registry records the objects and the tolerations kube-router had before
    resources = registry_item(registry, cluster)["resources"]
    assert [o["kind"] for o in resources["agent"]["objects"]][-1] == "Deployment"
    assert resources["kube_router"]["previous_tolerations"]
    # And the API key is in no output, log line or registry record
    assert logs, "the handler logged nothing"
    for text in (dumps(output), *logs, dumps(resources)):
        assert API_KEY not in text


def test_map_identity_handler_raises_the_typed_error_for_step_functions(
    make_cluster: MakeCluster, registry: Any, lambda_env: None
) -> None:
    # Given a cluster without the authenticator
    cluster = make_cluster("kops=1.20,auth=none")
    # When / Then: the exception's class name is the error Step Functions catches
    with pytest.raises(AuthenticationNotEnabled):
        map_identity.handler(event(cluster, registry), context("MapIdentity"))


def test_map_identity_handler_in_service_account_mode_maps_nothing_and_never_shows_the_token(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, logs: list[str]
) -> None:
    # Given a cluster without the authenticator, recorded by ValidateCluster in service-account mode
    cluster = make_cluster("kops=1.21,auth=none", kube="real")
    # When the MapIdentity step runs
    output = map_identity.handler(
        event(cluster, registry, execution_id="exec-sa", identity_mode="service-account"), context("MapIdentity")
    )
    # Then the vendor got its ServiceAccount and a kubeconfig secret, and no IAM mapping was written anywhere
    assert output["mode"] == "service-account"
    assert output["service_account"] == f"kube-system/cast-kops-{cluster.name}"
    assert (
        output["kubeconfig_secret_arn"]
        .split(":secret:")[1]
        .startswith(f"kops-onboard/clusters/{cluster.name}/vendor-kubeconfig-")
    )
    assert cluster.find("v1/configmaps", "kube-system", "aws-auth") is None
    assert not [w for w in cluster.writes() if "configmaps" in w.path or "iamidentitymappings" in w.path]
    # And the registry records the identity under its own key, by this execution
    resources = registry_item(registry, cluster)["resources"]
    assert "identity_mapping" not in resources
    assert resources["vendor_identity"]["execution_id"] == "exec-sa"
    # And the token is in no output, log line or registry record
    stored = aws_client("secretsmanager").get_secret_value(SecretId=output["kubeconfig_secret_arn"])
    token = json.loads(stored["SecretString"])["users"][0]["user"]["token"]
    assert logs, "the handler logged nothing"
    for text in (dumps(output), *logs, dumps(resources)):
        assert token not in text


def test_a_malformed_spot_role_setting_is_invalid_input(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = make_cluster("kops=1.21")
    monkeypatch.setenv("SPOT_HANDLER_ROLE_ARN", "not-an-arn")
    with pytest.raises(InvalidInput, match="spot_handler_role_arn"):
        map_identity.handler(event(cluster, registry), context("MapIdentity"))
    assert cluster.writes() == []


def test_map_identity_handler_on_the_crd_backend_records_what_rollback_needs(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a CRD-backend cluster (the real control plane serves its CRD) and the Spot handler's role
    cluster = make_cluster("kops=1.22,auth=crd", kube="real")
    monkeypatch.setenv("SPOT_HANDLER_ROLE_ARN", cluster.spot_role_arn)
    # When the MapIdentity step runs
    output = map_identity.handler(event(cluster, registry, execution_id="exec-crd"), context("MapIdentity"))
    # Then its output names our IAMIdentityMapping objects and no ConfigMap
    assert (output["backend"], output["configmap"], output["configmap_status"]) == ("CRD", None, None)
    assert [(o["name"], o["status"]) for o in output["identity_mappings"]] == [
        ("kops-onboard-cast-service", "created"),
        ("kops-onboard-spot-drainer", "created"),
    ]
    # And the registry's record reads back as the backup rollback takes (None kept: they did not exist)
    record = registry_item(registry, cluster)["resources"]["identity_mapping"]
    assert record["execution_id"] == "exec-crd"
    backup = IdentityMappingCrdBackup.model_validate(record["crd_backup"])
    assert [(o.name, o.previous) for o in backup.objects] == [
        ("kops-onboard-cast-service", None),
        ("kops-onboard-spot-drainer", None),
    ]


def test_registry_values_are_plain_dynamodb_types(make_cluster: MakeCluster, registry: Any, lambda_env: None) -> None:
    # Given an installed agent recorded in the registry
    cluster = make_cluster("kops=1.21")
    install_agent.handler(event(cluster, registry), context("InstallAgent"))
    # Then what DynamoDB gives back is the same document (no floats, no lost None/empty values)
    agent = registry_item(registry, cluster)["resources"]["agent"]
    assert agent["namespace"] == "castai-agent"
    assert agent["kube_router"] == {"status": "not-applicable", "added_tolerations": []}
    assert not any(isinstance(v, Decimal) for v in agent.values())
    assert os.environ["REGISTRY_TABLE_NAME"] == TABLE


def test_map_identity_maps_the_clusters_own_user_whatever_the_state_says(
    make_cluster: MakeCluster, registry: Any, lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a state whose IAM result names another cluster's user (forged input)
    cluster = make_cluster("kops=1.17")
    monkeypatch.setenv("SPOT_HANDLER_ROLE_ARN", cluster.spot_role_arn)
    forged = event(cluster, registry)
    forged["state"]["iam"]["user_arn"] = f"arn:aws:iam::{cluster.account}:user/cast-kops-other.k8s.local"
    forged["state"]["iam"]["user_name"] = "cast-kops-other.k8s.local"
    # When MapIdentity runs
    map_identity.handler(forged, context("MapIdentity"))
    # Then the cluster maps its own user, derived from the account and the cluster name, and not the forged one
    config = cluster.configmap("aws-iam-authenticator")["data"]["config.yaml"]
    assert cluster.user_arn in config and "cast-kops-other" not in config
