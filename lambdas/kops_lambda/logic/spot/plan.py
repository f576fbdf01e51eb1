"""What to do about one EC2 event, and by when: decided from the event and the settings alone (no I/O)."""

from dataclasses import dataclass, replace
from enum import StrEnum

from kops_lambda.constants import SPOT_NOTICE_SECONDS, SPOT_STATE_CHANGE_STATES
from kops_lambda.models.events import (
    CapacityReservationWarningEvent,
    Ec2InterruptionEvent,
    LifecycleActionEvent,
    RebalanceEvent,
    ScheduledChangeEvent,
    SpotWarningEvent,
    StateChangeEvent,
)
from kops_lambda.settings import SpotAction, SpotSettings

# Kept free at the end of the invocation: enough to record the outcome and answer SQS before the timeout.
LAMBDA_MARGIN_SECONDS = 5.0
# Below this, starting a drain is pointless: cordon only (the replacement may still be requested).
MIN_DRAIN_SECONDS = 2.0


class EventKind(StrEnum):
    WARNING = "warning"
    REBALANCE = "rebalance"
    STATE_CHANGE = "state-change"
    CAPACITY_RESERVATION = "capacity-reservation"
    LIFECYCLE = "lifecycle-hook"
    SCHEDULED_CHANGE = "scheduled-change"


@dataclass(frozen=True)
class Plan:
    kind: EventKind
    action: SpotAction
    deadline: float  # epoch seconds: evictions stop here, whatever is left is reported
    instance_gone_at: float  # epoch seconds: when EC2 takes the instance (force deletes must end before)
    event_age: float  # seconds between the event's time and its receipt
    replace_early: bool  # detach from the ASG so the replacement launches now
    instance_terminates: bool  # the instance goes away for good (not stopped, hibernated or merely at risk)
    note: str = ""  # why the action differs from the configured one

    def dedup_key(self, instance_id: str) -> str:
        """Follow-ups of one interruption share a key per action: at most one drain, one cordon, one taint."""
        return f"{instance_id}#{self.action.value}"


def event_kind(event: Ec2InterruptionEvent) -> EventKind:
    if isinstance(event, SpotWarningEvent):
        return EventKind.WARNING
    if isinstance(event, RebalanceEvent):
        return EventKind.REBALANCE
    if isinstance(event, CapacityReservationWarningEvent):
        return EventKind.CAPACITY_RESERVATION
    if isinstance(event, LifecycleActionEvent):
        return EventKind.LIFECYCLE
    if isinstance(event, ScheduledChangeEvent):
        return EventKind.SCHEDULED_CHANGE
    return EventKind.STATE_CHANGE


def configured_action(kind: EventKind, settings: SpotSettings) -> SpotAction:
    return {
        EventKind.WARNING: settings.warning_action,
        EventKind.REBALANCE: settings.rebalance_action,
        EventKind.STATE_CHANGE: settings.state_change_action,
        EventKind.CAPACITY_RESERVATION: settings.capacity_reservation_action,
        EventKind.LIFECYCLE: settings.lifecycle_action,
        EventKind.SCHEDULED_CHANGE: settings.scheduled_change_action,
    }[kind]


def instance_terminates(event: Ec2InterruptionEvent) -> bool:
    """Whether the event says the instance goes away for good: a stopped or hibernated instance comes back
    (detached, it would run outside any ASG; tainted out-of-service, its node would lose its pods for nothing)."""
    if isinstance(event, SpotWarningEvent | CapacityReservationWarningEvent):
        return event.detail.instance_action == "terminate"
    if isinstance(event, StateChangeEvent):
        return event.detail.state in ("shutting-down", "terminated")
    return isinstance(event, LifecycleActionEvent)


def _instance_gone_at(event: Ec2InterruptionEvent, now: float) -> float:
    """When EC2 takes the instance: the termination time a Capacity Reservation warning gives, else the
    event's time plus the two minutes' notice (never later than that: a later time would only be a wrong one).
    An instance held by a lifecycle hook waits for us (we send heartbeats): the drain gets two minutes from now,
    bounded by the invocation like any other; so does an instance whose scheduled change is days ahead."""
    if isinstance(event, LifecycleActionEvent | ScheduledChangeEvent):
        return now + SPOT_NOTICE_SECONDS
    notice_end = event.time.timestamp() + SPOT_NOTICE_SECONDS
    if isinstance(event, CapacityReservationWarningEvent) and event.detail.termination_time is not None:
        return min(event.detail.termination_time.timestamp(), notice_end)
    return notice_end


def plan_for(
    event: Ec2InterruptionEvent,
    settings: SpotSettings,
    *,
    now: float,
    lambda_seconds_left: float | None = None,
) -> Plan:
    """The action for this event and its deadline.

    The deadline is the earlier of the instance's end (event time + 120 s) minus the margin and the end of
    this invocation minus LAMBDA_MARGIN_SECONDS. A drain with less than MIN_DRAIN_SECONDS left becomes a
    cordon: the node still stops taking pods and leaves the load balancers.
    """
    kind = event_kind(event)
    action = configured_action(kind, settings)
    note = ""
    if isinstance(event, StateChangeEvent) and event.detail.state not in SPOT_STATE_CHANGE_STATES:
        action, note = SpotAction.NONE, f"state {event.detail.state} is not an interruption"
    event_time = event.time.timestamp()
    instance_gone_at = _instance_gone_at(event, now)
    deadline = instance_gone_at - settings.deadline_margin_seconds
    if lambda_seconds_left is not None:
        deadline = min(deadline, now + lambda_seconds_left - LAMBDA_MARGIN_SECONDS)
    if action is SpotAction.DRAIN and deadline - now < MIN_DRAIN_SECONDS:
        action = SpotAction.CORDON
        note = f"event is {now - event_time:.0f} s old: no time left to drain, cordon only"
    terminates = instance_terminates(event)
    replace_early = (
        settings.early_replacement
        and isinstance(event, SpotWarningEvent | CapacityReservationWarningEvent)
        and terminates
        and action in (SpotAction.CORDON, SpotAction.DRAIN)
    )
    return Plan(
        kind=kind,
        action=action,
        deadline=deadline,
        instance_gone_at=instance_gone_at,
        event_age=now - event_time,
        replace_early=replace_early,
        instance_terminates=terminates,
        note=note,
    )


def for_control_plane(plan: Plan, settings: SpotSettings) -> Plan:
    """The plan for a node of a kOps control-plane instance group: never detached from its ASG (the group
    would launch a second control-plane instance beside the one still serving etcd), and cordoned only, not
    drained, unless settings.drain_control_plane (what runs there was put there on purpose)."""
    action, notes = plan.action, [plan.note]
    if action is SpotAction.DRAIN and not settings.drain_control_plane:
        action = SpotAction.CORDON
        notes.append("control-plane node: cordoned only (spotDrainControlPlane is off)")
    if plan.replace_early:
        notes.append("control-plane node: not detached from its ASG")
    return replace(plan, action=action, replace_early=False, note="; ".join(filter(None, notes)))
