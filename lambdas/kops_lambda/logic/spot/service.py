"""One interruption event, end to end: plan -> instance -> dedup -> cluster -> node -> cordon -> drain.

Critical path to the cordon: DescribeInstances (which also tells a Spot warning for an on-demand instance),
the DynamoDB conditional put (dedup), the registry read, one GET and one PATCH on the API server. Everything
that can wait runs beside the drain: Kubernetes Events and the early replacement (DetachInstances).
"""

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from kops_lambda.adapters.kube import KubeApiError, KubeClient
from kops_lambda.constants import (
    PRODUCT,
    SPOT_EVENT_REASON_DRAIN_COMPLETE,
    SPOT_EVENT_REASON_DRAIN_INCOMPLETE,
    SPOT_EVENT_REASON_INTERRUPTION,
    SPOT_EVENT_REASON_REPLACEMENT,
    drainer_secret_name,
)
from kops_lambda.errors import (
    ClusterAccessError,
    InvalidInput,
    KopsOnboardError,
    KubeApiUnavailable,
    KubeRequestRejected,
)
from kops_lambda.logic import registry
from kops_lambda.logic.spot import lifecycle
from kops_lambda.logic.spot.authentic import rejected
from kops_lambda.logic.spot.dedup import AlreadyInProgress, InterruptionDedup
from kops_lambda.logic.spot.drain import DrainReport, drain_node, list_pods_on_node, pods_to_evict
from kops_lambda.logic.spot.node import (
    InstanceInfo,
    NodeNaming,
    describe_instance,
    find_node,
    node_patch,
    out_of_service_patch,
    patch_node,
    provider_id,
    read_node,
)
from kops_lambda.logic.spot.node_events import NodeEventRecorder
from kops_lambda.logic.spot.outcome import SpotOutcome, drain_message, interruption_message, with_report
from kops_lambda.logic.spot.plan import Plan, for_control_plane, plan_for
from kops_lambda.logic.spot.replace import Replacement, request_replacement
from kops_lambda.models.base import describe_validation_error
from kops_lambda.models.events import (
    CapacityReservationWarningEvent,
    Ec2InterruptionEvent,
    HealthEvent,
    LifecycleActionEvent,
    SpotWarningEvent,
    scheduled_changes,
)
from kops_lambda.models.registry import ClusterRecord
from kops_lambda.observability import logger
from kops_lambda.settings import SpotAction, SpotSettings

_Parsed = TypeVar("_Parsed")
_EVENT_ADAPTER: TypeAdapter[Ec2InterruptionEvent] = TypeAdapter(Ec2InterruptionEvent)
_QUEUED_ADAPTER: TypeAdapter[Ec2InterruptionEvent | HealthEvent] = TypeAdapter(Ec2InterruptionEvent | HealthEvent)
_CONFLICT_ATTEMPTS = 3
_BACKGROUND_WAIT_SECONDS = 3.0
# Which naming (private DNS or instance id) found a cluster's last node: the next lookup tries it first.
_NAMING_HINTS: dict[str, NodeNaming] = {}


@dataclass(frozen=True)
class SpotDependencies:
    ec2: Any
    autoscaling: Any
    registry_table: Any
    core_api_for: Callable[[str], KubeClient]
    dedup: InterruptionDedup | None = None  # None: no persistent dedup (dry runs, tests of single events)
    reporter: str = PRODUCT  # reportingInstance of our Kubernetes Events


def parse_interruption_event(body: str | dict[str, Any]) -> Ec2InterruptionEvent:
    """One event about one instance."""
    return _parsed(_EVENT_ADAPTER, body)


def parse_queued_events(body: str | dict[str, Any]) -> list[Ec2InterruptionEvent]:
    """What one queued message asks about: its event, or one event per instance a Health event names."""
    event = _parsed(_QUEUED_ADAPTER, body)
    if isinstance(event, HealthEvent):
        return list[Ec2InterruptionEvent](scheduled_changes(event))
    return [event]


def _parsed(adapter: TypeAdapter[_Parsed], body: str | dict[str, Any]) -> _Parsed:
    try:
        data = json.loads(body) if isinstance(body, str) else body
        return adapter.validate_python(data)
    except json.JSONDecodeError:
        raise InvalidInput("event is not JSON") from None
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None


def handle_interruption(
    event: Ec2InterruptionEvent,
    *,
    settings: SpotSettings,
    deps: SpotDependencies,
    received_at: float | None = None,
    lambda_seconds_left: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.time,
) -> SpotOutcome:
    """The event's account, region and time are checked before (authentic.origin_rejection)."""
    received = clock() if received_at is None else received_at
    if isinstance(event, LifecycleActionEvent):
        return _with_lifecycle_action(
            event,
            lambda: _handle_event(
                event,
                settings=settings,
                deps=deps,
                received=received,
                lambda_seconds_left=lambda_seconds_left,
                clock=clock,
            ),
            settings=settings,
            deps=deps,
            received=received,
        )
    return _handle_event(
        event, settings=settings, deps=deps, received=received, lambda_seconds_left=lambda_seconds_left, clock=clock
    )


def _with_lifecycle_action(
    event: LifecycleActionEvent,
    handle: Callable[[], SpotOutcome],
    *,
    settings: SpotSettings,
    deps: SpotDependencies,
    received: float,
) -> SpotOutcome:
    """Handle the node with heartbeats beside it, then CONTINUE the action, whatever there was to do, unless
    the event was rejected or this is a dry run (then the hook's own timeout and default result apply). A
    failure raises before the completion: the SQS retry handles the node and completes the action then."""
    if event.detail.hook_name != settings.lifecycle_hook_name:
        reason = f"lifecycle hook {event.detail.hook_name} is not ours ({settings.lifecycle_hook_name})"
        return rejected(event, reason, now=received)
    action = lifecycle.LifecycleAction.of(event)
    interval = lifecycle.heartbeat_interval(deps.autoscaling, action)
    with lifecycle.heartbeats(deps.autoscaling, action, interval) as beating:
        outcome = handle()
    if outcome.result == "rejected" or settings.dry_run:
        return replace(outcome, lifecycle_heartbeats=beating.sent)
    completion = lifecycle.complete(deps.autoscaling, action)
    return replace(outcome, lifecycle_action=completion, lifecycle_heartbeats=beating.sent)


def _handle_event(
    event: Ec2InterruptionEvent,
    *,
    settings: SpotSettings,
    deps: SpotDependencies,
    received: float,
    lambda_seconds_left: Callable[[], float] | None,
    clock: Callable[[], float],
) -> SpotOutcome:
    plan = plan_for(
        event, settings, now=received, lambda_seconds_left=lambda_seconds_left() if lambda_seconds_left else None
    )
    base = SpotOutcome(
        event_id=event.id,
        instance_id=event.detail.instance_id,
        kind=plan.kind.value,
        action=plan.action.value,
        result="ignored",
        event_age_seconds=round(plan.event_age, 3),
    )
    if plan.action is SpotAction.NONE:
        return replace(base, reason=plan.note or f"{plan.kind.value} events are configured to do nothing")
    # Decided on reads alone, before the dedup mark: a forged or foreign event writes nothing and makes no
    # Kubernetes call.
    instance = describe_instance(deps.ec2, base.instance_id)
    if instance is None:
        return replace(base, reason="instance not found")
    if instance.cluster_name is None:
        return replace(base, reason="instance carries no kOps cluster tag")
    cluster_name = instance.cluster_name
    if isinstance(event, SpotWarningEvent) and not instance.spot:
        return replace(base, result="rejected", reason="Spot interruption warning for an instance that is not Spot")
    if isinstance(event, CapacityReservationWarningEvent) and instance.spot:
        # Capacity Reservations hold On-Demand instances only.
        return replace(base, result="rejected", reason="Capacity Reservation warning for a Spot instance")
    if isinstance(event, LifecycleActionEvent) and instance.asg_name != event.detail.asg_name:
        reason = (
            f"lifecycle action of group {event.detail.asg_name} for an instance of {instance.asg_name or 'no group'}"
        )
        return replace(base, result="rejected", reason=reason)
    if instance.control_plane:
        plan = for_control_plane(plan, settings)
    base = replace(base, action=plan.action.value, cluster_name=cluster_name)

    def act() -> SpotOutcome:
        return _act(
            event,
            plan,
            instance,
            base,
            cluster_name=cluster_name,
            settings=settings,
            deps=deps,
            received=received,
            clock=clock,
        )

    if settings.dry_run or deps.dedup is None:
        return act()
    try:
        stored, replayed = deps.dedup.run_once(plan.dedup_key(base.instance_id), lambda: act().as_dict())
    except AlreadyInProgress:
        in_progress = f"{plan.action.value} is in progress for another event of this interruption"
        return replace(base, result="duplicate", reason=in_progress)
    outcome = SpotOutcome.from_dict(stored)
    if not replayed:
        return outcome
    return replace(
        base,
        result="duplicate",
        reason=f"{plan.action.value} already done for this interruption ({outcome.result})",
        cluster_name=outcome.cluster_name,
        node_name=outcome.node_name,
        duplicate_of=outcome.event_id,
    )


def _act(
    event: Ec2InterruptionEvent,
    plan: Plan,
    instance: InstanceInfo,
    outcome: SpotOutcome,
    *,
    cluster_name: str,
    settings: SpotSettings,
    deps: SpotDependencies,
    received: float,
    clock: Callable[[], float],
) -> SpotOutcome:
    cluster = registry.registered_cluster(deps.registry_table, region=event.region, cluster_name=cluster_name)
    if cluster is None or not cluster.onboarded:
        return replace(outcome, reason="cluster not onboarded")
    core = deps.core_api_for(drainer_secret_of(cluster, cluster_name))
    with _as_drainer(cluster_name):
        return _on_cluster(
            core, event, plan, instance, outcome, settings=settings, deps=deps, received=received, clock=clock
        )


def drainer_secret_of(cluster: ClusterRecord, cluster_name: str) -> str:
    """The cluster's drainer credential from the registry, and only if it is that cluster's (its name); the
    Spot canary finds it the same way."""
    arn = cluster.drainer_secret_arn
    if arn is None or f":secret:{drainer_secret_name(cluster_name)}-" not in arn:
        raise ClusterAccessError(
            f"cluster {cluster_name}: the registry records no Spot drainer credential of this cluster; onboard it "
            "again (IssueDrainerCredential stores it)"
        )
    return arn


@contextmanager
def _as_drainer(cluster_name: str) -> Iterator[None]:
    """A 401/403 with the drainer credential names the cluster and what was refused (the SQS retry then
    builds the client again from the secret, which may hold a renewed token by then)."""
    try:
        yield
    except ClusterAccessError as exc:
        raise ClusterAccessError(
            f"cluster {cluster_name}: the API server refused the Spot drainer credential ({exc}): its token "
            "expired or was revoked, or the drainer identity lost its mapping or RBAC; onboard the cluster again"
        ) from None


def _on_cluster(
    core: KubeClient,
    event: Ec2InterruptionEvent,
    plan: Plan,
    instance: InstanceInfo,
    outcome: SpotOutcome,
    *,
    settings: SpotSettings,
    deps: SpotDependencies,
    received: float,
    clock: Callable[[], float],
) -> SpotOutcome:
    hint_key = f"{event.region}#{instance.cluster_name}"
    found = find_node(core, instance, prefer=_NAMING_HINTS.get(hint_key, "dns"))
    if found is None:
        return replace(outcome, reason="no node with this providerID")
    node, naming = found
    if naming is not None:
        _NAMING_HINTS[hint_key] = naming
    outcome = replace(outcome, node_name=node["metadata"]["name"], reason=plan.note)
    if settings.dry_run:
        return _dry_run(core, outcome, plan)
    taken = _patch_node(
        core, node, instance, lambda n: node_patch(n, action=plan.action, event_id=event.id), what="cordon"
    )
    if taken is None:
        return replace(outcome, reason="node deleted meanwhile")
    node, patched = taken
    outcome = replace(outcome, cordon_ms=round((clock() - received) * 1000, 1))
    logger.info(
        "node taken out of service",
        extra={
            "cluster": instance.cluster_name,
            "instance_id": instance.instance_id,
            "node": outcome.node_name,
            "action": plan.action.value,
            "patched": patched,
            "cordon_ms": outcome.cordon_ms,
        },
    )
    outcome = _after_cordon(
        core,
        node,
        event=event,
        plan=plan,
        instance=instance,
        outcome=outcome,
        settings=settings,
        deps=deps,
        clock=clock,
    )
    if not patched and outcome.result in ("tainted", "cordoned"):
        return replace(outcome, result="unchanged", reason=outcome.reason or "the node already was in that state")
    return outcome


def _after_cordon(
    core: KubeClient,
    node: dict[str, Any],
    *,
    event: Ec2InterruptionEvent,
    plan: Plan,
    instance: InstanceInfo,
    outcome: SpotOutcome,
    settings: SpotSettings,
    deps: SpotDependencies,
    clock: Callable[[], float],
) -> SpotOutcome:
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="spot-background")
    try:
        recorder = NodeEventRecorder(core, node, executor=background, instance=deps.reporter)
        recorder.record(SPOT_EVENT_REASON_INTERRUPTION, interruption_message(event, plan), warning=True)
        replacement: Future[Replacement] | None = None
        if plan.replace_early and instance.asg_name:
            replacement = background.submit(
                request_replacement, deps.autoscaling, instance_id=instance.instance_id, asg_name=instance.asg_name
            )
        report: DrainReport | None = None
        if plan.action is SpotAction.DRAIN:
            report = drain_node(
                core,
                node["metadata"]["name"],
                deadline=plan.deadline,
                concurrency=settings.eviction_concurrency,
                force_delete=settings.force_delete,
                instance_gone_at=plan.instance_gone_at,
                clock=clock,
            )
        out_of_service = report is not None and settings.out_of_service_taint and plan.instance_terminates
        if out_of_service:
            out_of_service = _taint_out_of_service(core, node, instance)
        replaced = _replacement_text(replacement)
        if report is not None:
            reason = SPOT_EVENT_REASON_DRAIN_COMPLETE if report.complete else SPOT_EVENT_REASON_DRAIN_INCOMPLETE
            message = drain_message(report, replaced, out_of_service=out_of_service)
            recorder.record(reason, message, warning=not report.complete)
        elif replacement is not None:
            recorder.record(SPOT_EVENT_REASON_REPLACEMENT, replaced)
        wait(recorder.pending, timeout=_BACKGROUND_WAIT_SECONDS)
    finally:
        background.shutdown(wait=False, cancel_futures=True)
    return replace(with_report(outcome, plan.action, report, replaced), out_of_service=out_of_service)


def _taint_out_of_service(core: KubeClient, node: dict[str, Any], instance: InstanceInfo) -> bool:
    """Taint the drained node out-of-service; whether it now carries the taint. The node is read again first:
    evictions do not change it, but a controller may have (the patch carries the resourceVersion it read)."""
    try:
        fresh = read_node(core, node["metadata"]["name"])
        if fresh is None or fresh.get("spec", {}).get("providerID") != provider_id(instance):
            return False
        return _patch_node(core, fresh, instance, out_of_service_patch, what="taint out-of-service") is not None
    except KopsOnboardError as exc:  # the drain is done: a failed taint is reported, never retried
        logger.warning("out-of-service taint not applied", extra={"error": type(exc).__name__, "detail": str(exc)})
        return False


def _patch_node(
    core: KubeClient,
    node: dict[str, Any],
    instance: InstanceInfo,
    patch_for: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    what: str,
) -> tuple[dict[str, Any], bool] | None:
    """Apply the patch that patch_for(node) gives (None: nothing to change); a 409 (the node changed since we
    read it) re-reads and tries again. Returns the node as last read and whether it was patched (None when it
    was deleted meanwhile)."""
    name = node["metadata"]["name"]
    for attempt in range(_CONFLICT_ATTEMPTS):
        patch = patch_for(node)
        if patch is None:
            return node, False
        try:
            patch_node(core, name, patch)
            return node, True
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            if exc.status != 409:
                raise KubeRequestRejected(f"{what} {name}: API server answered {exc.status}") from None
            if attempt == _CONFLICT_ATTEMPTS - 1:
                raise KubeApiUnavailable(f"{what} {name}: still conflicting after {_CONFLICT_ATTEMPTS} tries") from None
        fresh = read_node(core, name)
        if fresh is None or fresh.get("spec", {}).get("providerID") != provider_id(instance):
            return None
        node = fresh
    raise AssertionError("unreachable: the loop returns or raises")


def _dry_run(core: KubeClient, outcome: SpotOutcome, plan: Plan) -> SpotOutcome:
    """Reads only: what would be patched and evicted."""
    would = f"would {plan.action.value} the node"
    if plan.action is SpotAction.DRAIN:
        targets, skipped = pods_to_evict(list_pods_on_node(core, str(outcome.node_name)))
        would += f" and evict {len(targets)} pods (skipping {sum(skipped.values())})"
    if plan.replace_early:
        would += ", and detach the instance from its ASG"
    return replace(outcome, result="dry-run", reason="; ".join(filter(None, [would, plan.note])))


def _replacement_text(replacement: "Future[Replacement] | None") -> str:
    if replacement is None:
        return ""
    try:
        result = replacement.result(timeout=_BACKGROUND_WAIT_SECONDS)
    except Exception as exc:  # best effort: a failed detach never fails the drain
        return f"replacement not requested ({type(exc).__name__})"
    if result.requested:
        return f"replacement requested: detached from {result.asg_name}, desired capacity kept"
    return f"replacement not requested from {result.asg_name}: {result.detail}"
