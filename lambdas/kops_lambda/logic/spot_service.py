"""Orchestrates one interruption event: resolve instance, cluster and node, then act."""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from pydantic import TypeAdapter, ValidationError

from kops_lambda.errors import InvalidInput, KubeApiUnavailable
from kops_lambda.logic import registry
from kops_lambda.logic.spot import cordon_and_taint, describe_instance, find_node
from kops_lambda.models.events import Ec2InterruptionEvent, RebalanceEvent
from kops_lambda.models.steps import describe_validation_error

_EVENT_ADAPTER: TypeAdapter[Ec2InterruptionEvent] = TypeAdapter(Ec2InterruptionEvent)
_CONFLICT_ATTEMPTS = 3


@dataclass(frozen=True)
class SpotOutcome:
    instance_id: str
    action: str  # cordoned | ignored | dry-run
    reason: str = ""
    cluster_name: str | None = None
    node_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_interruption_event(body: str | dict[str, Any]) -> Ec2InterruptionEvent:
    try:
        data = json.loads(body) if isinstance(body, str) else body
        return _EVENT_ADAPTER.validate_python(data)
    except json.JSONDecodeError:
        raise InvalidInput("event is not JSON") from None
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None


def handle_interruption(
    event: Ec2InterruptionEvent,
    *,
    ec2: Any,
    registry_table: Any,
    core_api_for: Callable[[str], k8s.CoreV1Api],
    dry_run: bool = False,
) -> SpotOutcome:
    instance_id = event.detail.instance_id
    instance = describe_instance(ec2, instance_id)
    if instance is None:
        return SpotOutcome(instance_id, "ignored", "instance not found")
    if instance.cluster_name is None:
        return SpotOutcome(instance_id, "ignored", "instance carries no kOps cluster tag")
    cluster = registry.get_cluster(registry_table, region=event.region, cluster_name=instance.cluster_name)
    if cluster is None or cluster.get("status") != "ONBOARDED":
        return SpotOutcome(instance_id, "ignored", "cluster not onboarded", instance.cluster_name)
    core = core_api_for(str(cluster["kubeconfig_secret_arn"]))
    node = find_node(core, instance)
    if node is None:
        return SpotOutcome(instance_id, "ignored", "no node with this providerID", instance.cluster_name)
    node_name = node["metadata"]["name"]
    if dry_run:
        return SpotOutcome(instance_id, "dry-run", "", instance.cluster_name, node_name)
    effect = "PreferNoSchedule" if isinstance(event, RebalanceEvent) else "NoSchedule"
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            cordon_and_taint(core, node, event_id=event.id, effect=effect)
            break
        except ApiException as exc:
            # 409: someone edited the node between our read and patch; re-read and retry.
            if exc.status != 409 or attempt == _CONFLICT_ATTEMPTS - 1:
                raise KubeApiUnavailable(f"cordon {node_name}: API server answered {exc.status}") from None
            node = find_node(core, instance) or node
    return SpotOutcome(instance_id, "cordoned", "", instance.cluster_name, node_name)
