"""What to do about an event, and by when: from the event and the settings only."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from kops_lambda.errors import InvalidInput
from kops_lambda.logic.spot.plan import LAMBDA_MARGIN_SECONDS, EventKind, for_control_plane, plan_for
from kops_lambda.logic.spot.service import parse_interruption_event, parse_queued_events
from kops_lambda.models.events import ScheduledChangeEvent
from kops_lambda.settings import SpotAction, SpotSettings
from tests.spot.conftest import CAPACITY_RESERVATION, EVENTS, REBALANCE, STATE_CHANGE, WARNING, ec2_event

INSTANCE = "i-0b662ef9931388ba0"
DEFAULTS = SpotSettings()


def test_default_actions_per_event_type() -> None:
    now = time.time()
    # Given one event of each type, fresh
    warning = plan_for(ec2_event(WARNING, instance_id=INSTANCE), DEFAULTS, now=now)
    rebalance = plan_for(ec2_event(REBALANCE, instance_id=INSTANCE), DEFAULTS, now=now)
    state = plan_for(ec2_event(STATE_CHANGE, instance_id=INSTANCE), DEFAULTS, now=now)
    # Then the documented defaults apply
    assert (warning.kind, warning.action) == (EventKind.WARNING, SpotAction.DRAIN)
    assert (rebalance.kind, rebalance.action) == (EventKind.REBALANCE, SpotAction.TAINT)
    assert (state.kind, state.action) == (EventKind.STATE_CHANGE, SpotAction.DRAIN)
    # And only the terminating warning asks for an early replacement
    assert (warning.replace_early, rebalance.replace_early, state.replace_early) == (True, False, False)


def test_a_capacity_reservation_warning_drains_until_the_termination_time_it_gives() -> None:
    # Given an interruptible Capacity Reservation's warning, 10 s old, whose instance goes 90 s after it
    event = ec2_event(CAPACITY_RESERVATION, instance_id=INSTANCE, age=10)
    event_time = event.time.timestamp()
    early = event.model_copy(
        update={
            "detail": event.detail.model_copy(update={"termination_time": datetime.fromtimestamp(event_time + 90, UTC)})
        }
    )
    now = time.time()
    plan = plan_for(early, SpotSettings(deadline_margin_seconds=15), now=now)
    # Then it is drained, by its own configured action, against that time, and replaced early
    assert (plan.kind, plan.action) == (EventKind.CAPACITY_RESERVATION, SpotAction.DRAIN)
    assert plan.instance_gone_at == pytest.approx(event_time + 90)
    assert plan.deadline == pytest.approx(event_time + 75)
    assert plan.replace_early and plan.instance_terminates
    # And a termination time later than the two minutes' notice is not believed
    late = event.model_copy(
        update={
            "detail": event.detail.model_copy(
                update={"termination_time": datetime.fromtimestamp(event_time + 600, UTC)}
            )
        }
    )
    assert plan_for(late, DEFAULTS, now=now).instance_gone_at == pytest.approx(event_time + 120)
    # And its action is a setting of its own
    cordon = SpotSettings(capacity_reservation_action=SpotAction.CORDON)
    assert plan_for(event, cordon, now=now).action is SpotAction.CORDON
    assert plan_for(ec2_event(WARNING, instance_id=INSTANCE), cordon, now=now).action is SpotAction.DRAIN


@pytest.mark.parametrize(
    ("fixture", "detail", "terminates"),
    [
        (WARNING, {"instance-action": "terminate"}, True),
        (WARNING, {"instance-action": "stop"}, False),
        (WARNING, {"instance-action": "hibernate"}, False),
        (CAPACITY_RESERVATION, {}, True),
        (STATE_CHANGE, {"state": "shutting-down"}, True),
        (STATE_CHANGE, {"state": "terminated"}, True),
        (STATE_CHANGE, {"state": "stopping"}, False),
        (REBALANCE, {}, False),
    ],
)
def test_only_an_instance_going_away_for_good_counts_as_terminating(
    fixture: str, detail: dict[str, str], terminates: bool
) -> None:
    plan = plan_for(ec2_event(fixture, instance_id=INSTANCE, detail=detail), DEFAULTS, now=time.time())
    assert plan.instance_terminates is terminates


def test_actions_are_configuration() -> None:
    settings = SpotSettings(warning_action=SpotAction.CORDON, rebalance_action=SpotAction.NONE, early_replacement=False)
    now = time.time()
    warning = plan_for(ec2_event(WARNING, instance_id=INSTANCE), settings, now=now)
    rebalance = plan_for(ec2_event(REBALANCE, instance_id=INSTANCE), settings, now=now)
    assert (warning.action, warning.replace_early) == (SpotAction.CORDON, False)
    assert rebalance.action is SpotAction.NONE


def test_deadline_is_two_minutes_after_the_event_minus_the_margin() -> None:
    # Given a warning 30 s old, received now
    event = ec2_event(WARNING, instance_id=INSTANCE, age=30)
    now = time.time()
    plan = plan_for(event, SpotSettings(deadline_margin_seconds=12), now=now)
    # Then the drain has 120 - 30 - 12 s, and the instance goes at 120 s
    event_time = event.time.timestamp()
    assert plan.deadline == pytest.approx(event_time + 108)
    assert plan.instance_gone_at == pytest.approx(event_time + 120)
    assert plan.event_age == pytest.approx(now - event_time)


def test_deadline_never_passes_the_end_of_the_invocation() -> None:
    # Given an invocation with 20 s left
    now = time.time()
    plan = plan_for(ec2_event(WARNING, instance_id=INSTANCE), DEFAULTS, now=now, lambda_seconds_left=20)
    # Then the drain stops before the function's timeout
    assert plan.deadline == pytest.approx(now + 20 - LAMBDA_MARGIN_SECONDS)


def test_an_event_older_than_the_window_only_cordons() -> None:
    # Given a warning received 130 s after EC2 sent it
    plan = plan_for(ec2_event(WARNING, instance_id=INSTANCE, age=130), DEFAULTS, now=time.time())
    # Then the node is cordoned, not drained, and the replacement is still requested
    assert plan.action is SpotAction.CORDON
    assert "no time left to drain" in plan.note
    assert plan.replace_early
    assert plan.dedup_key(INSTANCE) == f"{INSTANCE}#cordon"


def test_stop_and_hibernate_warnings_keep_the_instance_in_its_group() -> None:
    # A stopped instance comes back: detached from its ASG it would run outside any group
    event = ec2_event(WARNING, instance_id=INSTANCE, detail={"instance-action": "stop"})
    assert not plan_for(event, DEFAULTS, now=time.time()).replace_early


def test_state_changes_that_are_not_interruptions_do_nothing() -> None:
    event = ec2_event(STATE_CHANGE, instance_id=INSTANCE, detail={"state": "running"})
    plan = plan_for(event, DEFAULTS, now=time.time())
    assert plan.action is SpotAction.NONE
    assert "running" in plan.note


def test_follow_ups_of_one_interruption_share_the_drain_key() -> None:
    now = time.time()
    warning = plan_for(ec2_event(WARNING, instance_id=INSTANCE), DEFAULTS, now=now)
    state = plan_for(ec2_event(STATE_CHANGE, instance_id=INSTANCE), DEFAULTS, now=now)
    rebalance = plan_for(ec2_event(REBALANCE, instance_id=INSTANCE), DEFAULTS, now=now)
    assert warning.dedup_key(INSTANCE) == state.dedup_key(INSTANCE) == f"{INSTANCE}#drain"
    assert rebalance.dedup_key(INSTANCE) == f"{INSTANCE}#taint"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ('{"detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2"}', "detail"),
    ],
)
def test_malformed_events_are_a_typed_error(body: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_interruption_event(body)


def test_an_instance_id_of_the_wrong_shape_is_malformed() -> None:
    with pytest.raises(InvalidInput):
        ec2_event(WARNING, instance_id="i-../../etc")


def test_a_control_plane_node_is_cordoned_only_and_never_detached_unless_drain_is_allowed() -> None:
    now = time.time()
    warning = plan_for(ec2_event(WARNING, instance_id=INSTANCE), DEFAULTS, now=now)
    # By default: cordon instead of drain, no early replacement, and the note says why
    cordon_only = for_control_plane(warning, DEFAULTS)
    assert (cordon_only.action, cordon_only.replace_early) == (SpotAction.CORDON, False)
    assert "spotDrainControlPlane is off" in cordon_only.note
    assert cordon_only.dedup_key(INSTANCE) == f"{INSTANCE}#cordon"
    # Allowed to drain: drained, still never detached
    drained = for_control_plane(warning, SpotSettings(drain_control_plane=True))
    assert (drained.action, drained.replace_early) == (SpotAction.DRAIN, False)
    # A weaker configured action stays as it is
    rebalance = plan_for(ec2_event(REBALANCE, instance_id=INSTANCE), DEFAULTS, now=now)
    assert for_control_plane(rebalance, DEFAULTS).action is SpotAction.TAINT


def _health(*entities: str, resources: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "health-scheduled-change.json").read_text())
    data["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["detail"]["affectedEntities"] = [{"entityValue": e} for e in entities]
    data["resources"] = resources if resources is not None else list(entities)
    return data


def test_a_health_event_is_one_scheduled_change_per_affected_instance() -> None:
    # Given a Health event naming two instances (one twice, one only in its resources) and a volume
    first, second = "i-0b662ef9931388ba0", "i-0b662ef9931388ba1"
    body = _health(first, "vol-0123456789abcdef0", first, resources=[first, second])
    # When it is read from the queue
    events = parse_queued_events(json.dumps(body))
    # Then it is one scheduled change per instance, each once, with the event's type code and time
    assert [e.detail.instance_id for e in events] == [first, second]
    assert all(isinstance(e, ScheduledChangeEvent) for e in events)
    assert {e.id for e in events} == {body["id"]}
    (change, _) = events
    assert isinstance(change, ScheduledChangeEvent)
    assert change.detail.event_type_code == "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"
    # And each is drained now, with the invocation's time, never replaced early nor tainted out-of-service
    now = time.time()
    plan = plan_for(change, DEFAULTS, now=now)
    assert (plan.kind, plan.action) == (EventKind.SCHEDULED_CHANGE, SpotAction.DRAIN)
    assert plan.deadline == pytest.approx(now + 120 - DEFAULTS.deadline_margin_seconds)
    assert (plan.replace_early, plan.instance_terminates) == (False, False)
    assert (
        plan_for(change, SpotSettings(scheduled_change_action=SpotAction.CORDON), now=now).action is SpotAction.CORDON
    )


def test_a_health_event_of_another_service_or_category_is_malformed() -> None:
    other = _health("i-0b662ef9931388ba0")
    other["detail"]["eventTypeCategory"] = "issue"
    with pytest.raises(InvalidInput):
        parse_queued_events(json.dumps(other))
    assert parse_queued_events(json.dumps(_health())) == []
