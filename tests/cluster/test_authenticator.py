"""The real aws-iam-authenticator as the real apiserver's token webhook, in each backend kOps can run it with.

Onboarding's own mapping step (`ensure_identity_mapping`) maps the vendor's IAM user and the Spot handler's role
into a seeded cluster; tokens minted the way the product mints them are verified by the authenticator against
the local STS (moto in server mode) and mapped through the cluster's MountedFile config, aws-auth ConfigMap or
IAMIdentityMapping objects; the apiserver then applies RBAC to the mapped user.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from kubernetes import client as k8s

from kops_lambda.adapters.kube import BearerToken, KubeClient
from kops_lambda.constants import CAST_SERVICE_GROUP, CAST_SERVICE_USERNAME_PREFIX, SPOT_DRAINER_GROUP
from kops_lambda.logic.cluster.identity_mapping import ensure_identity_mapping
from kops_lambda.logic.cluster.rest import KubeRest
from kops_lambda.logic.rollback.identity_mapping import offboard_identity_mapping
from kops_local.aws import LocalAws
from kops_local.controlplane import RealKubeCluster
from kops_local.controlplane.authenticator import WEBHOOK_CACHE_TTL_SECONDS
from kops_local.iam_tokens import IamCredentials, iam_token, role_session, user_credentials, whoami
from kops_local.seed import ClusterSpec, SeededAwsCluster, seed_aws, seed_kube
from tests.kube_backends import start_kube

REGION = "us-east-1"
BUCKET = "authenticator-tests-state-store"
ADMIN_TOKEN = "authenticator-test-admin"
SPOT_ROLE = "kops-onboard-spot-handler"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# Mapping changes reach the authenticator at once (informers; MountedFile: a restart on the DaemonSet's roll);
# the apiserver may answer from its cache for one TTL more. Both are hang guards, generous for a loaded 2-core
# machine: the tests wait for the change to take effect and assert what it does, not how soon.
_CHANGE_SECONDS = WEBHOOK_CACHE_TTL_SECONDS + 180.0
_AUTHENTICATOR_UP_SECONDS = 180.0


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    shared = LocalAws.running()
    if shared is not None:  # a session fixture elsewhere owns the process's LocalAws
        yield shared
        return
    aws = LocalAws()
    aws.start()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    yield aws
    aws.stop()


@pytest.fixture(scope="module")
def spot_role_arn(local_aws: LocalAws) -> str:
    iam = local_aws.client("iam")
    try:
        return iam.create_role(RoleName=SPOT_ROLE, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:  # a LocalAws shared with another suite of this process
        return iam.get_role(RoleName=SPOT_ROLE)["Role"]["Arn"]


@dataclass
class AuthCluster:
    spec: ClusterSpec
    kube: RealKubeCluster
    api: KubeClient
    user_name: str
    user_arn: str
    vendor: IamCredentials

    @property
    def name(self) -> str:
        return self.spec.name

    def token(self, credentials: IamCredentials, *, cluster_id: str | None = None) -> str:
        return iam_token(credentials, cluster_id=cluster_id or self.name, region=REGION)

    def whoami(self, token: str) -> tuple[int, dict[str, Any] | None]:
        return whoami(self.kube.url, token)

    def status_of(self, token: str, path: str) -> int:
        configuration = k8s.Configuration(
            host=self.kube.url, api_key={"BearerToken": token}, api_key_prefix={"BearerToken": "Bearer"}
        )
        with k8s.ApiClient(configuration) as api:
            try:
                api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False)
            except k8s.exceptions.ApiException as exc:
                return int(exc.status)
        return 200


def _placeholder_zip() -> bytes:
    # The local runtime imports the handler from this environment; the zip only satisfies CreateFunction.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "")
    return buffer.getvalue()


def _wait_for(what: str, probe: Callable[[], Any], *, timeout: float) -> Any:
    """Poll until `probe` answers something truthy (a change takes effect), or fail saying what never came."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"hung: {what}: not after {timeout:.0f} s (last answer {answer!r})")
        time.sleep(0.2)


def _seeded(local_aws: LocalAws, spec: ClusterSpec) -> SeededAwsCluster:
    return seed_aws(
        ec2=local_aws.client("ec2"),
        autoscaling=local_aws.client("autoscaling"),
        s3=local_aws.client("s3"),
        spec=spec,
        region=REGION,
        state_store_bucket=BUCKET,
    )


def _start(pytestconfig: pytest.Config, local_aws: LocalAws, settings: str) -> tuple[ClusterSpec, RealKubeCluster]:
    spec = ClusterSpec.parse(settings)
    aws = _seeded(local_aws, spec)
    kube = start_kube(pytestconfig, name=spec.name, tokens=[ADMIN_TOKEN], kube="real", sts_url=local_aws.endpoint_url)
    assert isinstance(kube, RealKubeCluster)
    api = k8s.ApiClient(
        k8s.Configuration(host=kube.url, api_key={"BearerToken": ADMIN_TOKEN}, api_key_prefix={"BearerToken": "Bearer"})
    )
    seed_kube(api, spec, aws)
    api.close()
    return spec, kube


@pytest.fixture(scope="module", params=["mountedfile", "eksconfigmap", "crd"])
def cluster(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, local_aws: LocalAws, spot_role_arn: str
) -> Iterator[AuthCluster]:
    """A seeded kOps 1.28 cluster whose authenticator runs in one backend mode, with onboarding's mappings."""
    mode = request.param
    spec, kube = _start(pytestconfig, local_aws, f"auth-{mode}.k8s.local:kops=1.28,auth={mode},nodes=1,pods=1")
    api = KubeClient(kube.url, token=BearerToken(lambda: ADMIN_TOKEN))
    iam = local_aws.client("iam")
    user_name = f"cast-kops-{spec.name}"
    user_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    ensure_identity_mapping(
        api, cluster_name=spec.name, user_arn=user_arn, user_name=user_name, spot_role_arn=spot_role_arn
    )
    cluster = AuthCluster(spec, kube, api, user_name, user_arn, user_credentials(iam, user_name))
    # MountedFile: the authenticator serves the mapping once restarted by onboarding's roll of its DaemonSet.
    kube.settle()
    token = cluster.token(cluster.vendor)
    _wait_for("the mapping served", lambda: cluster.whoami(token)[0] == 201, timeout=_AUTHENTICATOR_UP_SECONDS)
    yield cluster
    api.close()
    kube.stop()


def test_a_token_of_the_onboarded_vendor_user_authenticates_as_its_mapped_user_and_groups(
    cluster: AuthCluster,
) -> None:
    # Given the vendor's IAM user, mapped by onboarding, and a token minted with its access key
    token = cluster.token(cluster.vendor)
    # When it asks the API server who it is
    status, user = cluster.whoami(token)
    # Then the authenticator (the apiserver's token webhook) verified it with STS and mapped it through the
    # cluster's backend
    assert cluster.kube.webhook is not None
    assert status == 201 and user is not None
    assert user["username"] == f"{CAST_SERVICE_USERNAME_PREFIX}{cluster.user_name}"
    assert CAST_SERVICE_GROUP in user["groups"]
    assert user["extra"]["arn"] == [cluster.user_arn]


def test_a_token_for_the_global_sts_endpoint_authenticates_as_the_same_user(cluster: AuthCluster) -> None:
    # Given the vendor user's token presigned for the global endpoint (what kOps 1.11/1.15's authenticator
    # v0.4 accepts, and the drainer mints for those versions)
    token = iam_token(cluster.vendor, cluster_id=cluster.name, region=REGION, global_endpoint=True)
    assert _token_host(token) == "sts.amazonaws.com"
    # When it asks the API server who it is
    status, user = cluster.whoami(token)
    # Then the authenticator verified it through the global host as well, and mapped it the same way
    assert status == 201 and user is not None
    assert user["username"] == f"{CAST_SERVICE_USERNAME_PREFIX}{cluster.user_name}"


def _token_host(token: str) -> str | None:
    encoded = token.removeprefix("k8s-aws-v1.")
    return urlparse(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()).hostname


def test_rbac_applies_to_the_mapped_vendor_user(cluster: AuthCluster) -> None:
    # Given the vendor user's token
    token = cluster.token(cluster.vendor)
    # When it reads nodes and then secrets
    # Then its read-only ClusterRole lets it list nodes but not read secrets
    assert cluster.status_of(token, "/api/v1/nodes") == 200
    assert cluster.status_of(token, "/api/v1/namespaces/kube-system/secrets") == 403


def test_an_unmapped_iam_identity_is_unauthorized(cluster: AuthCluster, local_aws: LocalAws) -> None:
    # Given an IAM user of the same account that onboarding did not map
    iam = local_aws.client("iam")
    name = f"stranger-{cluster.name}"
    iam.create_user(UserName=name)
    token = cluster.token(user_credentials(iam, name))
    # When it presents a valid token for this cluster
    # Then the authenticator finds no mapping: 401
    assert cluster.whoami(token) == (401, None)


def test_a_token_minted_for_another_cluster_id_is_unauthorized(cluster: AuthCluster) -> None:
    # Given the mapped vendor user's token, signed for another cluster id
    token = cluster.token(cluster.vendor, cluster_id="another.k8s.local")
    # When it is presented here
    # Then the signed x-k8s-aws-id header does not match this cluster: 401
    assert cluster.whoami(token) == (401, None)
    # And the same identity's token for this cluster works (the refusal is the cluster id's)
    assert cluster.whoami(cluster.token(cluster.vendor))[0] == 201


def test_an_assumed_role_session_maps_through_the_roles_map_roles_entry(
    cluster: AuthCluster, local_aws: LocalAws, spot_role_arn: str
) -> None:
    # Given a session of the Spot handler's role (mapped by onboarding as a role, username with {{SessionName}})
    session = role_session(local_aws.client("sts"), spot_role_arn, "kops-onboard-spot-interruption")
    token = cluster.token(session)
    # When it asks who it is
    status, user = cluster.whoami(token)
    # Then its assumed-role ARN was canonicalized to the role and the session name filled in
    assert status == 201 and user is not None
    assert user["username"] == "kops-onboard:spot-drainer:kops-onboard-spot-interruption"
    assert SPOT_DRAINER_GROUP in user["groups"]
    assert user["extra"]["arn"] == [
        f"arn:aws:sts::{local_aws.account_id}:assumed-role/{SPOT_ROLE}/kops-onboard-spot-interruption"
    ]
    assert user["extra"]["canonicalArn"] == [spot_role_arn]
    # And the drainer's RBAC applies: nodes yes, secrets no
    assert cluster.status_of(token, "/api/v1/nodes") == 200
    assert cluster.status_of(token, "/api/v1/namespaces/kube-system/secrets") == 403


def test_a_lambda_of_the_spot_role_authenticates_as_the_drainer_with_its_own_credentials(
    cluster: AuthCluster, local_aws: LocalAws, spot_role_arn: str
) -> None:
    # Given a function whose execution role is the Spot handler's role, and whose handler mints a token with
    # its default credentials (the runtime gives it a session of that role, as Lambda does)
    name = f"kops-onboard-spot-interruption-{cluster.spec.auth}"
    local_aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=spot_role_arn,
        Handler="tests.cluster.authenticator_handlers.whoami_as_execution_role",
        Code={"ZipFile": _placeholder_zip()},
        Timeout=30,
        Environment={"Variables": {"CLUSTER_URL": cluster.kube.url, "CLUSTER_ID": cluster.name}},
    )
    # When it runs
    response = local_aws.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    answer = json.loads(response["Payload"].read())
    # Then the cluster sees the drainer: the role's mapping, the function's name as the session name
    assert "FunctionError" not in response, answer
    assert answer["status"] == 201
    assert answer["user"]["username"] == f"kops-onboard:spot-drainer:{name}"
    assert SPOT_DRAINER_GROUP in answer["user"]["groups"]


def test_a_removed_mapping_is_unauthorized_once_the_webhook_cache_expires(
    cluster: AuthCluster, spot_role_arn: str
) -> None:
    # Given the vendor user authenticating
    token = cluster.token(cluster.vendor)
    assert cluster.whoami(token)[0] == 201
    try:
        # When offboarding removes our mappings (MountedFile: and rolls the authenticator onto the new config)
        offboard_identity_mapping(
            KubeRest(cluster.api), user_arn=cluster.user_arn, user_name=cluster.user_name, spot_role_arn=spot_role_arn
        )
        # Then the same token is refused once the apiserver's cached answer has expired
        _wait_for(
            "401 after the mapping was removed", lambda: cluster.whoami(token) == (401, None), timeout=_CHANGE_SECONDS
        )
    finally:
        # (the other tests of this cluster need the mapping back)
        ensure_identity_mapping(
            cluster.api,
            cluster_name=cluster.name,
            user_arn=cluster.user_arn,
            user_name=cluster.user_name,
            spot_role_arn=spot_role_arn,
        )
        cluster.kube.settle()
    _wait_for("201 after the mapping was restored", lambda: cluster.whoami(token)[0] == 201, timeout=_CHANGE_SECONDS)


def test_a_cluster_without_authentication_runs_no_authenticator(
    pytestconfig: pytest.Config, local_aws: LocalAws
) -> None:
    # Given a cluster seeded without spec.authentication.aws, and an IAM user with a token for it
    spec, kube = _start(pytestconfig, local_aws, "no-auth.k8s.local:kops=1.28,auth=none,nodes=1,pods=1")
    try:
        iam = local_aws.client("iam")
        iam.create_user(UserName="no-auth-user")
        token = iam_token(user_credentials(iam, "no-auth-user"), cluster_id=spec.name, region=REGION)
        # When the cluster is up and the token is presented
        kube.authenticator.sync()
        status = whoami(kube.url, token)
        # Then nothing answers the webhook: no authenticator process, the token is 401, the admin still works
        assert not kube.authenticator.running
        assert status == (401, None)
        assert whoami(kube.url, ADMIN_TOKEN)[0] == 201
    finally:
        kube.stop()


def test_a_cluster_started_without_an_sts_has_no_token_webhook(pytestconfig: pytest.Config) -> None:
    # Given a real cluster started the way the in-process moto suites start theirs (no sts_url)
    kube = start_kube(pytestconfig, name="no-webhook.k8s.local", tokens=[ADMIN_TOKEN], kube="real")
    try:
        assert isinstance(kube, RealKubeCluster)
        # Then its apiserver has no token webhook and no authenticator runs for it
        assert kube.webhook is None
        with pytest.raises(RuntimeError, match="no authenticator"):
            kube.authenticator.sync()
        # And the admin authenticates as before
        assert whoami(kube.url, ADMIN_TOKEN)[0] == 201
    finally:
        kube.stop()
