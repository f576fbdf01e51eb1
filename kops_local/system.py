"""The local embedded system: moto (AWS) running the synthesized stack, and one Kubernetes API
emulator per seeded kOps cluster. Used by `kops-onboard local up`, the demo and the e2e tests."""

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from kubernetes import client as k8s

from kops_lambda.adapters.kube import BearerToken, KubeClient
from kops_lambda.adapters.pem_files import pem_file
from kops_lambda.constants import (
    AGENT_API_KEY_SECRET_NAME,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    kubeconfig_secret_name,
    spot_forwarder_stack_name,
)
from kops_local.aws.server import LocalAws
from kops_local.deployer import DeployedStack, deploy_template
from kops_local.kube import KubeApiEmulator
from kops_local.kube.served import ServedKubeApi
from kops_local.seed import (
    ClusterSpec,
    SeededAwsCluster,
    SeededKubeCluster,
    seed_access_secret,
    seed_aws,
    seed_kube,
)

STATE_STORE_BUCKET = "kops-state-local"
KubeBackendName = Literal["emulator", "real"]
STACK_NAME = "KopsOnboard"


def bearer_configuration(url: str, token: str, ca_certificate: str | None = None) -> k8s.Configuration:
    configuration = k8s.Configuration(
        host=url, api_key={"BearerToken": token}, api_key_prefix={"BearerToken": "Bearer"}
    )
    if ca_certificate:
        configuration.ssl_ca_cert = pem_file(ca_certificate.encode())
    return configuration


@dataclass
class LocalCluster:
    spec: ClusterSpec
    aws: SeededAwsCluster
    kube: SeededKubeCluster
    api_server: ServedKubeApi  # the emulator or the real control plane (`kube`)
    kubeconfig_secret_arn: str
    agent_api_key_secret_arn: str
    token: str = field(repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def api_client(self) -> k8s.ApiClient:
        """The official client, as the cluster's admin (seeding, checks)."""
        return k8s.ApiClient(bearer_configuration(self.api_server.url, self.token, self.api_server.ca_certificate))

    def kube_client(self) -> KubeClient:
        """The product's own transport, as the cluster's admin (what its functions take)."""
        ca = self.api_server.ca_certificate
        return KubeClient(
            self.api_server.url, token=BearerToken(lambda: self.token), ca_pem=ca.encode() if ca else None
        )

    def onboard_input(self, state_store_bucket: str = STATE_STORE_BUCKET) -> dict[str, Any]:
        return {
            "cluster_name": self.spec.name,
            "region": self.aws.region,
            "kubeconfig_secret_arn": self.kubeconfig_secret_arn,
            "agent_api_key_secret_arn": self.agent_api_key_secret_arn,
            "state_store": f"s3://{state_store_bucket}",
        }

    def offboard_input(self, *, secret_recovery_days: int | None = None) -> dict[str, Any]:
        """Input of the offboarding state machine (the secrets' recovery window defaults to 7 days)."""
        payload: dict[str, Any] = {"cluster_name": self.spec.name, "region": self.aws.region}
        if secret_recovery_days is not None:
            payload["secret_recovery_days"] = secret_recovery_days
        return payload


class LocalSystem:
    """Start with `start()`, add clusters, `stop()` at the end (or use it as a context manager)."""

    def __init__(
        self,
        *,
        template: Path,
        port: int = 0,
        region: str = "us-east-1",
        retry_interval_scale: float = 1.0,
        kube: KubeBackendName = "emulator",
        spot_regions: Sequence[str] = (),
    ) -> None:
        """`kube`: each seeded cluster's API server is our emulator, or a real kube-apiserver with its
        controller-manager (built by `make kube-bin`, built here first if missing).

        `spot_regions` other than `region`: each gets the Spot forwarder stack, whose template the synth
        (with the same spotRegions, `synthesize(region=..., spot_regions=...)`) wrote beside `template`."""
        self.template = template
        self.kube = kube
        self.region = region
        self.forwarded_regions = tuple(r for r in dict.fromkeys(spot_regions) if r != region)
        self.aws = LocalAws(port=port, region=region, retry_interval_scale=retry_interval_scale)
        self.clusters: dict[str, LocalCluster] = {}
        self.stack: DeployedStack | None = None
        self.forwarders: dict[str, DeployedStack] = {}

    def __enter__(self) -> "LocalSystem":
        try:
            self.start()
        except BaseException:
            self.stop()  # a half-started system must not keep moto (one per process) running
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.aws.start()
        self.stack = deploy_template(
            self.template,
            clients=self.aws.client,
            stack_name=STACK_NAME,
            region=self.region,
            account=self.aws.account_id,
        )
        for region in self.forwarded_regions:
            forwarder = self.template.parent / f"{spot_forwarder_stack_name(region)}.template.json"
            if not forwarder.exists():
                raise FileNotFoundError(f"{forwarder} is missing: synthesize with spotRegions naming {region}")
            self.forwarders[region] = deploy_template(
                forwarder,
                clients=partial(self.aws.client, region=region),
                stack_name=spot_forwarder_stack_name(region),
                region=region,
                account=self.aws.account_id,
            )

    def stop(self) -> None:
        for cluster in self.clusters.values():
            cluster.api_server.stop()
        self.aws.stop()

    @property
    def endpoint_url(self) -> str:
        return self.aws.endpoint_url

    def output(self, name: str) -> str:
        if self.stack is None:
            raise RuntimeError("the local system is not started")
        return self.stack.outputs[name]

    @property
    def state_machines(self) -> dict[str, str]:
        return {
            "onboard": self.output("OnboardingStateMachineArn"),
            "offboard": self.output("OffboardingStateMachineArn"),
        }

    @contextmanager
    def workflow_timeout(self, kind: str, seconds: int) -> Iterator[None]:
        """The deployed `kind` state machine's TimeoutSeconds is `seconds` until the block exits (an
        UpdateStateMachine, as an operator could do on AWS), for executions started meanwhile. The
        template, and so the production default, stays as it is."""
        sfn = self.aws.client("stepfunctions")
        arn = self.state_machines[kind]
        original = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        sfn.update_state_machine(
            stateMachineArn=arn, definition=json.dumps({**json.loads(original), "TimeoutSeconds": seconds})
        )
        try:
            yield
        finally:
            sfn.update_state_machine(stateMachineArn=arn, definition=original)

    def add_cluster(
        self, spec: ClusterSpec, *, share_vpc_of: LocalCluster | None = None, kube: KubeBackendName | None = None
    ) -> LocalCluster:
        """Seed a cluster (in `share_vpc_of`'s VPC and subnets when given) with its API server and secret;
        `kube` overrides the system's backend for this cluster (a ServiceAccount token needs the real one).
        It is seeded in `spec.region` (default: the system's); its kubeconfig secret is in the system's
        region, where the deployment reads secrets."""
        if spec.name in self.clusters:
            raise ValueError(f"cluster {spec.name} is already seeded")
        token = secrets.token_urlsafe(24)
        # TLS: kubectl sends bearer tokens only over https.
        api_server = self._api_server(spec.name, token, kube or self.kube)
        region = spec.region or self.region
        seeded_aws = seed_aws(
            ec2=self.aws.client("ec2", region),
            autoscaling=cast(Any, self.aws.client("autoscaling", region)),
            s3=self.aws.client("s3", region),
            spec=spec,
            region=region,
            state_store_bucket=STATE_STORE_BUCKET,
            shared_network=share_vpc_of.aws if share_vpc_of else None,
        )
        with k8s.ApiClient(bearer_configuration(api_server.url, token, api_server.ca_certificate)) as api:
            seeded_kube = seed_kube(api, spec, seeded_aws)
        secret_arn = seed_access_secret(
            secretsmanager=self.aws.client("secretsmanager"),
            cluster_name=spec.name,
            kube_api_url=api_server.url,
            token=token,
            ca_certificate=api_server.ca_certificate,
        )
        assert secret_arn.split(":secret:")[1].startswith(kubeconfig_secret_name(spec.name))
        cluster = LocalCluster(
            spec, seeded_aws, seeded_kube, api_server, secret_arn, self._agent_api_key_secret(), token
        )
        self.clusters[spec.name] = cluster
        return cluster

    def _api_server(self, name: str, token: str, kube: KubeBackendName) -> ServedKubeApi:
        api_server: ServedKubeApi
        # TLS: kubectl sends bearer tokens only over https.
        if kube == "real":
            from kops_local.controlplane import RealKubeCluster, ensure_binaries  # noqa: PLC0415 (when asked for)

            api_server = RealKubeCluster(
                tokens=[token], name=name, tls=True, binaries=ensure_binaries(), sts_url=self.endpoint_url
            )
        else:
            api_server = KubeApiEmulator(tokens=[token], name=name, tls=True, sts_url=self.endpoint_url)
        api_server.start()
        return api_server

    def _agent_api_key_secret(self) -> str:
        """The service's API key for the agent, created once per local account (a random stand-in)."""
        sm = self.aws.client("secretsmanager")
        try:
            return str(sm.describe_secret(SecretId=AGENT_API_KEY_SECRET_NAME)["ARN"])
        except sm.exceptions.ResourceNotFoundException:
            created = sm.create_secret(
                Name=AGENT_API_KEY_SECRET_NAME,
                SecretString=secrets.token_hex(32),
                Tags=[{"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE}],
            )
            return str(created["ARN"])

    def announcement(self) -> dict[str, Any]:
        """The one JSON line `local up` prints: where everything is and how to onboard each cluster."""
        return {
            "aws_endpoint_url": self.endpoint_url,
            "region": self.region,
            "spot_regions": [self.region, *self.forwarded_regions],
            "kube": self.kube,
            "state_machines": self.state_machines,
            "clusters": {
                name: {
                    "kube_api_url": cluster.api_server.url,
                    "kubeconfig_secret_arn": cluster.kubeconfig_secret_arn,
                    "kops_version": cluster.spec.kops,
                    "instance_ids": [i.instance_id for i in cluster.aws.instances],
                    "onboard_input": cluster.onboard_input(),
                    "offboard_input": cluster.offboard_input(),
                }
                for name, cluster in self.clusters.items()
            },
        }
