"""Helpers of the Spot drain e2e tests: events on the bus or the queue, what the controllers would do."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from kops_lambda.constants import SPOT_EVENT_SOURCE, SPOT_STATE_CHANGE_DETAIL_TYPE
from kops_local.seed import ClusterSpec, SeededInstance
from kops_local.system import KubeBackendName, LocalCluster, LocalSystem
from kops_onboard.executions import ExecutionResult, run_execution
from kops_onboard.spot_events import REBALANCE, SPOT_WARNING, eventbridge_event, spot_event_entry

__all__ = ["REBALANCE", "SPOT_WARNING"]


def run_onboarding(system: LocalSystem, cluster: LocalCluster, *, name_prefix: str, **fields: Any) -> ExecutionResult:
    """One onboarding execution of a seeded cluster (`fields` added to its input), run to its end."""
    sfn = system.aws.client("stepfunctions")
    return run_execution(
        sfn, system.state_machines["onboard"], {**cluster.onboard_input(), **fields}, name_prefix=name_prefix
    )


def onboard(
    system: LocalSystem, spec: str, *, kube: KubeBackendName | None = None, name_prefix: str = "e2e", **fields: Any
) -> LocalCluster:
    """A cluster seeded from `spec` (on the `kube` backend if given) and onboarded successfully."""
    cluster = system.add_cluster(ClusterSpec.parse(spec), kube=kube)
    result = run_onboarding(system, cluster, name_prefix=name_prefix, **fields)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return cluster


def onboard_without_budget(system: LocalSystem, spec: str) -> LocalCluster:
    """A cluster onboarded from `spec`, its seeded PodDisruptionBudget deleted: without a budget a drain never
    waits out its window (budgets: test_spot_drain.py)."""
    cluster = onboard(system, spec)
    cluster.api_server.store.delete("policy/v1/poddisruptionbudgets", cluster.kube.app_namespace, cluster.kube.pdb_name)
    return cluster


def spot_workers(cluster: LocalCluster) -> list[SeededInstance]:
    return [i for i in cluster.aws.instances if i.lifecycle == "spot" and i.role == "node"]


def put(system: LocalSystem, *entries: dict[str, Any]) -> list[str]:
    """Put events on the bus; returns the ids EventBridge gave them."""
    events: Any = system.aws.client("events")
    response = events.put_events(Entries=list(entries))
    assert response["FailedEntryCount"] == 0
    return [e["EventId"] for e in response["Entries"]]


def entry(
    system: LocalSystem, instance: SeededInstance, *, detail_type: str = SPOT_WARNING, age: float = 0.0
) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=age)
    return spot_event_entry(
        instance_id=instance.instance_id,
        region=system.region,
        account=system.aws.account_id,
        detail_type=detail_type,
        when=when,
    )


def state_change_entry(system: LocalSystem, instance_id: str, state: str) -> dict[str, Any]:
    return {
        "Time": datetime.now(UTC),
        "Source": SPOT_EVENT_SOURCE,
        "DetailType": SPOT_STATE_CHANGE_DETAIL_TYPE,
        "Resources": [f"arn:aws:ec2:{system.region}:{system.aws.account_id}:instance/{instance_id}"],
        "Detail": json.dumps({"instance-id": instance_id, "state": state}),
    }


def delivered_body(system: LocalSystem, instance: SeededInstance) -> str:
    """A warning exactly as EventBridge puts it on the queue (to deliver one event twice, as SQS may)."""
    event = eventbridge_event(instance_id=instance.instance_id, region=system.region, account=system.aws.account_id)
    return json.dumps(event)


def send_to_queue(system: LocalSystem, body: str) -> None:
    system.aws.client("sqs").send_message(QueueUrl=system.output("SpotEventQueueUrl"), MessageBody=body)


def node(cluster: LocalCluster, instance: SeededInstance) -> dict[str, Any]:
    found = cluster.api_server.store.get("v1/nodes", None, cluster.kube.node_name(instance.instance_id))
    assert found is not None
    return found


def pods_on(cluster: LocalCluster, instance: SeededInstance) -> list[dict[str, Any]]:
    name = cluster.kube.node_name(instance.instance_id)
    return cluster.api_server.store.list("v1/pods", field_selector=f"spec.nodeName={name}")


def node_events(cluster: LocalCluster, instance: SeededInstance) -> list[dict[str, Any]]:
    name = cluster.kube.node_name(instance.instance_id)
    return [e for e in cluster.api_server.store.list("v1/events") if e["involvedObject"]["name"] == name]


def queued_messages(system: LocalSystem, output: str) -> int:
    """Messages in the queue of that stack output, visible or in flight."""
    attributes = system.aws.client("sqs").get_queue_attributes(
        QueueUrl=system.output(output),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def pod_lists_for(cluster: LocalCluster, instance: SeededInstance) -> int:
    """How many times the pods of this node were listed: once per drain."""
    selector = f"spec.nodeName={cluster.kube.node_name(instance.instance_id)}"
    return sum(
        1 for r in cluster.api_server.requests if r.path == "/api/v1/pods" and r.query.get("fieldSelector") == selector
    )


def handler_lines(system: LocalSystem, event_id: str) -> list[dict[str, Any]]:
    """The Spot handler's JSON log lines about one event."""
    lines = []
    for line in system.aws.captured_logs:
        if event_id not in line or "{" not in line:
            continue
        try:
            lines.append(json.loads(line[line.index("{") :]))
        except json.JSONDecodeError:
            continue
    return [line for line in lines if line.get("event_id") == event_id]


@contextmanager
def spot_handler_environment(system: LocalSystem, **variables: str) -> Iterator[None]:
    """The deployed Spot handler with these environment variables set (new containers pick them up), restored
    afterwards."""
    lambda_: Any = system.aws.client("lambda")
    queue_url = system.output("SpotEventQueueUrl")
    queue_arn = system.aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    (mapping,) = lambda_.list_event_source_mappings(EventSourceArn=queue_arn["Attributes"]["QueueArn"])[
        "EventSourceMappings"
    ]
    name = mapping["FunctionArn"]
    original = lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": original | variables})
    try:
        yield
    finally:
        lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": original})


def emf_metric(system: LocalSystem, name: str) -> list[float]:
    """Every value of one metric in the EMF blobs the handler printed so far."""
    values: list[float] = []
    for line in system.aws.captured_logs:
        if f'"{name}"' not in line or '"_aws"' not in line:
            continue
        blob = json.loads(line[line.index("{") :])
        value = blob.get(name)
        if value is not None:
            values.extend(value if isinstance(value, list) else [value])
    return values


def reschedule_evicted(cluster: LocalCluster, on: SeededInstance) -> None:
    """What the ReplicaSet controller would do: bring each app Deployment back to its replicas, on `on`.
    Keeps the PodDisruptionBudgets' room for the next drain, as a real cluster would."""
    store = cluster.api_server.store
    node_name = cluster.kube.node_name(on.instance_id)
    for deployment in store.list("apps/v1/deployments", cluster.kube.app_namespace):
        app = deployment["spec"]["selector"]["matchLabels"]["app"]
        pods = store.list("v1/pods", cluster.kube.app_namespace, label_selector=f"app={app}")
        if not pods:
            continue
        for _ in range(int(deployment["spec"]["replicas"]) - len(pods)):
            clone = copy.deepcopy(pods[0])
            clone["metadata"] = {
                key: value
                for key, value in clone["metadata"].items()
                if key in ("namespace", "labels", "annotations", "ownerReferences")
            }
            clone["metadata"]["name"] = f"{app}-{uuid.uuid4().hex[:5]}"
            clone["spec"]["nodeName"] = node_name
            store.create(clone)
