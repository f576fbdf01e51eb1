"""aws-node-termination-handler (NTH) in queue-processor mode, run by the Spot bench beside our handler.

The binary is `make nth-bin`'s (the module pinned in tools/nth). It runs as a subprocess pointed at loopback
only: its AWS endpoint is the local moto server (SQS, EC2, Auto Scaling), its Kubernetes API the cluster's
proxy (the same one our handler and kubectl go through, so the bench's Timeline counts its calls), with the
settings of kOps' NTH addon (queue-processor Deployment). Its own SQS queue gets the same EventBridge events
through a rule of its own; the managed tag NTH checks is put on the cluster's ASGs and instances.

NTH reads its cluster config in-cluster (client-go's `rest.InClusterConfig`): KUBERNETES_SERVICE_HOST/PORT
and a token and CA at the fixed path /var/run/secrets/kubernetes.io/serviceaccount. The process gets them in
a private mount namespace (`unshare --mount`: a tmpfs over /var/run seen by NTH alone), so nothing is written
outside a temporary folder. Its ServiceAccount holds the ClusterRole of NTH's Helm chart, not cluster-admin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kops_local.system import LocalCluster, LocalSystem
from stacks.app_builder import PROJECT_ROOT

MODULE = "github.com/aws/aws-node-termination-handler"
GO_MOD = PROJECT_ROOT / "tools" / "nth" / "go.mod"
MANAGED_TAG = "aws-node-termination-handler/managed"  # kOps' ManagedASGTag default, NTH's MANAGED_TAG
ACCOUNT = "aws-node-termination-handler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # client-go's fixed in-cluster path
SPOT_WARNING_PATTERN = {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}
# The ClusterRole of NTH's Helm chart (config/helm/aws-node-termination-handler, v1.25.1, events emitted).
CLUSTER_ROLE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": ["extensions"], "resources": ["daemonsets"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]
DRAINED = "Node successfully cordoned and drained"
FAILED = "There was a problem while trying to cordon and drain the node"
STARTED = "Kubernetes AWS Node Termination Handler has started successfully!"
LOG_PATH = Path(tempfile.gettempdir()) / "kops-onboard-nth.log"  # every NTH process's output, appended
# Mounted over /var/run in NTH's own mount namespace, then the token and CA copied in; $1 token, $2 CA.
_IN_CLUSTER_FILES = (
    'set -e; run="$(readlink -f /var/run)"; mount -t tmpfs -o size=1m,mode=0755 nth-secrets "$run"; '
    f'mkdir -p {SERVICE_ACCOUNT_DIR}; cp "$1" {SERVICE_ACCOUNT_DIR}/token; cp "$2" {SERVICE_ACCOUNT_DIR}/ca.crt; '
    'shift 2; exec "$@"'
)


class NthUnavailable(RuntimeError):
    """NTH cannot run here (no binary, or no private mount namespace for its in-cluster files)."""


def pinned_version(go_mod: str, module: str = MODULE) -> str:
    """The version `go_mod` (a go.mod's text) requires of `module`, on a one-line require or in a block."""
    for line in go_mod.splitlines():
        words = line.split()
        if words[:1] == ["require"] and len(words) >= 3 and words[1] == module:
            return words[2]
        if len(words) >= 2 and words[0] == module and words[1].startswith("v"):
            return words[1]
    raise ValueError(f"{module} is not required in this go.mod")


def binary() -> Path:
    return PROJECT_ROOT / ".cache" / "nth-bin" / pinned_version(GO_MOD.read_text()) / "node-termination-handler"


def nth_environment(
    *, queue_url: str, aws_endpoint: str, region: str, api_host: str, api_port: int, node_name: str, home: str
) -> dict[str, str]:
    """NTH's whole environment (nothing inherited: no proxies, no real AWS credentials): kOps' addon settings
    for the queue processor, probes and metrics off (kOps serves them on all interfaces), loopback endpoints."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "AWS_REGION": region,
        "AWS_ENDPOINT": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": str(api_port),
        "NODE_NAME": node_name,
        "POD_NAME": "aws-node-termination-handler-bench",
        "NAMESPACE": NAMESPACE,
        "ENABLE_PROBES_SERVER": "false",
        "ENABLE_PROMETHEUS_SERVER": "false",
        "LOG_LEVEL": "info",
        "JSON_LOGGING": "true",
        "LOG_FORMAT_VERSION": "2",
        "CHECK_TAG_BEFORE_DRAINING": "true",
        "MANAGED_TAG": MANAGED_TAG,
        "USE_PROVIDER_ID": "true",
        "DRY_RUN": "false",
        "CORDON_ONLY": "false",
        "TAINT_NODE": "false",
        "EXCLUDE_FROM_LOAD_BALANCERS": "true",
        "DELETE_LOCAL_DATA": "true",
        "IGNORE_DAEMON_SETS": "true",
        "POD_TERMINATION_GRACE_PERIOD": "-1",
        "NODE_TERMINATION_GRACE_PERIOD": "120",
        "EMIT_KUBERNETES_EVENTS": "true",
        "COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS": "-1",
        "ENABLE_SQS_TERMINATION_DRAINING": "true",
        "QUEUE_URL": queue_url,
        "WORKERS": "10",
    }


@dataclass(frozen=True)
class LogLine:
    at: float  # time.monotonic() when the bench read it
    fields: dict[str, Any]


@dataclass(frozen=True)
class NthCluster:
    """One cluster's NTH wiring: its queue, its rule, its ServiceAccount token."""

    queue_url: str
    rule_name: str
    token: str


def _enabled_rules_to_sqs(system: LocalSystem) -> list[str]:
    events = system.aws.client("events")
    names = [r["Name"] for r in events.list_rules()["Rules"] if r.get("State") == "ENABLED"]
    return [
        name
        for name in names
        if any(t["Arn"].startswith("arn:aws:sqs:") for t in events.list_targets_by_rule(Rule=name)["Targets"])
    ]


def prepare(system: LocalSystem, cluster: LocalCluster) -> NthCluster:
    """What kOps sets up for NTH's queue processor, on the local system: queue, rule, managed tags, RBAC."""
    name = f"nth-{cluster.name.replace('.', '-')}"
    sqs, events = system.aws.client("sqs"), system.aws.client("events")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(SPOT_WARNING_PATTERN), State="DISABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "nth", "Arn": queue_arn}])
    _tag_managed(system, cluster)
    return NthCluster(queue_url=queue_url, rule_name=name, token=_service_account_token(cluster))


def _tag_managed(system: LocalSystem, cluster: LocalCluster) -> None:
    """kOps tags the ASGs of a cluster with NTH's managed tag (propagated at launch); the instances already
    running get it here as a launch would have given it."""
    groups = sorted({i.asg_name for i in cluster.aws.instances})
    system.aws.client("autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": group,
                "ResourceType": "auto-scaling-group",
                "Key": MANAGED_TAG,
                "Value": "",
                "PropagateAtLaunch": True,
            }
            for group in groups
        ]
    )
    ids = [i.instance_id for i in cluster.aws.instances]
    system.aws.client("ec2").create_tags(Resources=ids, Tags=[{"Key": MANAGED_TAG, "Value": ""}])


def _service_account_token(cluster: LocalCluster) -> str:
    store = cluster.api_server.store
    labels = {"app.kubernetes.io/name": ACCOUNT}
    store.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}})
    store.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ACCOUNT, "labels": labels},
            "rules": CLUSTER_ROLE_RULES,
        }
    )
    store.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ACCOUNT, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
        }
    )
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}}
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{ACCOUNT}/token"
    token: str = store.request("POST", path, request)["status"]["token"]  # type: ignore[attr-defined]
    _wait_until_bound(cluster)
    return token


def _wait_until_bound(cluster: LocalCluster, timeout: float = 30.0) -> None:
    """The RBAC authorizer reads bindings from its informer cache: wait until it allows the account to evict."""
    user = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": {"verb": "create", "resource": "pods", "subresource": "eviction"}},
    }
    deadline = time.monotonic() + timeout
    store: Any = cluster.api_server.store
    while not store.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)["status"].get(
        "allowed"
    ):
        if time.monotonic() > deadline:
            raise NthUnavailable(f"{user} is still not allowed to evict pods after {timeout:g} s")
        time.sleep(0.05)


@contextmanager
def routed_to_nth(system: LocalSystem, nth: NthCluster) -> Iterator[None]:
    """While inside, EventBridge sends Spot warnings to this NTH queue only (our rules disabled); after, back."""
    events = system.aws.client("events")
    ours = _enabled_rules_to_sqs(system)
    for name in ours:
        events.disable_rule(Name=name)
    events.enable_rule(Name=nth.rule_name)
    try:
        yield
    finally:
        events.disable_rule(Name=nth.rule_name)
        for name in ours:
            events.enable_rule(Name=name)


class NthProcess:
    """One NTH process for one cluster; its JSON log lines are kept with the moment they were read."""

    def __init__(self, system: LocalSystem, cluster: LocalCluster, nth: NthCluster) -> None:
        executable = binary()
        if not executable.is_file():
            raise NthUnavailable(f"{executable} is missing: run `make nth-bin`")
        unshare = shutil.which("unshare")
        if unshare is None:
            raise NthUnavailable("unshare (util-linux) is missing: NTH needs a private mount namespace")
        self._home = tempfile.TemporaryDirectory(prefix="kops-onboard-nth-")
        home = Path(self._home.name)
        (home / "token").write_text(nth.token)
        (home / "ca.crt").write_text(cluster.api_server.ca_certificate or "")
        host, _, port = cluster.api_server.url.removeprefix("https://").rpartition(":")
        master = next(i for i in cluster.aws.instances if i.role == "master")
        environment = nth_environment(
            queue_url=nth.queue_url,
            aws_endpoint=system.endpoint_url,
            region=system.region,
            api_host=host,
            api_port=int(port),
            node_name=cluster.kube.node_name(master.instance_id),
            home=str(home),
        )
        command = [unshare, "--mount", "--propagation", "private", "sh", "-c", _IN_CLUSTER_FILES, "nth"]
        command += [str(home / "token"), str(home / "ca.crt"), str(executable)]
        self.lines: list[LogLine] = []
        self._lock = threading.Lock()
        self._log = LOG_PATH.open("a")
        self._process = subprocess.Popen(  # noqa: S603 - our own command line
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, name="nth-log", daemon=True)
        self._reader.start()
        try:
            self.wait_for(lambda line: line.fields.get("message") == STARTED, timeout=30)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self._process.stdout is not None
        for text in self._process.stdout:
            self._log.write(text)
            try:
                fields = json.loads(text)
            except ValueError:
                fields = {"message": text.strip()}
            with self._lock:
                self.lines.append(LogLine(time.monotonic(), fields if isinstance(fields, dict) else {}))

    def wait_for(self, matches: Any, timeout: float) -> LogLine:
        """The first line `matches(line)` accepts, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((line for line in self.lines if matches(line)), None)
            if found is not None:
                return found
            if self._process.poll() is not None:
                raise NthUnavailable(f"NTH exited ({self._process.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"NTH logged nothing matching within {timeout:g} s: {self.tail()}")
            time.sleep(0.01)

    def outcome(self, node: str, since: float) -> LogLine | None:
        """Its drain result for `node` (drained or failed) logged after `since`, if any yet."""
        with self._lock:
            return next(
                (
                    line
                    for line in self.lines
                    if line.at >= since
                    and line.fields.get("node_name") == node
                    and line.fields.get("message") in (DRAINED, FAILED)
                ),
                None,
            )

    def tail(self, count: int = 5) -> str:
        with self._lock:
            return " | ".join(str(line.fields.get("message", line.fields)) for line in self.lines[-count:])

    def stop(self) -> None:
        if self._process.poll() is None:
            # NTH traps SIGTERM and keeps polling (its loop's `break` leaves only the select); it holds no state.
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)
        self._log.close()
        self._home.cleanup()

    def __enter__(self) -> NthProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
