"""Is an event one our rules could have delivered? Checked from the event and the stack's settings alone (no
I/O), before anything is read or written: anyone allowed to send to the queue could have written it.

The instance-dependent check (a Spot warning must be for a Spot instance) needs DescribeInstances and is made
in service.py, still before any write or Kubernetes call."""

from kops_lambda.constants import SPOT_EVENT_CLOCK_SKEW_SECONDS
from kops_lambda.logic.spot.outcome import SpotOutcome
from kops_lambda.logic.spot.plan import event_kind
from kops_lambda.models.events import Ec2InterruptionEvent
from kops_lambda.settings import EventOrigin, SpotAction


def origin_rejection(event: Ec2InterruptionEvent, origin: EventOrigin, *, now: float) -> str | None:
    """Why the event is rejected (wrong account, a region the rules do not cover, a time in the future beyond
    SPOT_EVENT_CLOCK_SKEW_SECONDS), or None when it may be handled."""
    if event.account != origin.account:
        return f"event of account {event.account}, not this deployment's ({origin.account})"
    if event.region not in origin.regions:
        return f"event of region {event.region}, which the Spot rules do not cover ({', '.join(origin.regions)})"
    ahead = event.time.timestamp() - now
    if ahead > SPOT_EVENT_CLOCK_SKEW_SECONDS:
        return f"event time {event.time.isoformat()} is {ahead:.0f} s in the future"
    return None


def rejected(event: Ec2InterruptionEvent, reason: str, *, now: float) -> SpotOutcome:
    """The outcome of a rejected event: acknowledged (never retried), nothing done."""
    return SpotOutcome(
        event_id=event.id,
        instance_id=event.detail.instance_id,
        kind=event_kind(event).value,
        action=SpotAction.NONE.value,
        result="rejected",
        reason=reason,
        event_age_seconds=round(now - event.time.timestamp(), 3),
    )
