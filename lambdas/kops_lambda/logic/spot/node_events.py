"""Kubernetes Events on the node (`kubectl describe node` shows them): what we did and why.

Recording is off the critical path: each Event is created on a background thread, and a failure to record
one (RBAC, a busy server) is logged, never raised: the drain matters more than its diary.
"""

import uuid
from concurrent.futures import Executor, Future
from datetime import UTC, datetime
from typing import Any

from kops_lambda.adapters.kube import KubeClient, send
from kops_lambda.constants import PRODUCT
from kops_lambda.observability import logger

EVENT_NAMESPACE = "default"  # where the kubelet and the node controller record node Events
MAX_MESSAGE = 1024


def node_event(node: dict[str, Any], *, reason: str, message: str, event_type: str, instance: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = node["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": EVENT_NAMESPACE},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"].get("uid", "")},
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": event_type,
        "source": {"component": PRODUCT},
        "reportingComponent": PRODUCT,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class NodeEventRecorder:
    """Creates Events about one node on the given executor; `pending` are the creations in flight."""

    def __init__(self, core: KubeClient, node: dict[str, Any], *, executor: Executor, instance: str) -> None:
        self._core = core
        self._node = node
        self._instance = instance
        self._executor = executor
        self.pending: list[Future[None]] = []

    def record(self, reason: str, message: str, *, warning: bool = False) -> None:
        body = node_event(
            self._node,
            reason=reason,
            message=message,
            event_type="Warning" if warning else "Normal",
            instance=self._instance,
        )
        self.pending.append(self._executor.submit(self._create, body))

    def _create(self, body: dict[str, Any]) -> None:
        try:
            send(self._core, "POST", f"/api/v1/namespaces/{EVENT_NAMESPACE}/events", body=body)
        except Exception as exc:  # an Event lost is not worth failing or retrying a drain for
            logger.warning(
                "could not record a node event",
                extra={"node": self._node["metadata"]["name"], "reason": body["reason"], "error": type(exc).__name__},
            )
