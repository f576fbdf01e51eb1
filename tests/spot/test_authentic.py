"""Which events the handler accepts, from the event and the stack's settings alone."""

import time

from kops_lambda.logic.spot.authentic import origin_rejection
from kops_lambda.settings import EventOrigin
from tests.spot.conftest import REGION, WARNING, ec2_event

INSTANCE = "i-0b662ef9931388ba0"
ORIGIN = EventOrigin(account="123456789012", regions=(REGION, "eu-west-1"))


def test_an_event_of_this_account_in_a_covered_region_is_accepted() -> None:
    now = time.time()
    assert origin_rejection(ec2_event(WARNING, instance_id=INSTANCE), ORIGIN, now=now) is None
    forwarded = ec2_event(WARNING, instance_id=INSTANCE, region="eu-west-1")
    assert origin_rejection(forwarded, ORIGIN, now=now) is None


def test_another_account_or_an_uncovered_region_is_rejected() -> None:
    now = time.time()
    elsewhere = EventOrigin(account="111122223333", regions=ORIGIN.regions)
    assert origin_rejection(ec2_event(WARNING, instance_id=INSTANCE), elsewhere, now=now) == (
        "event of account 123456789012, not this deployment's (111122223333)"
    )
    uncovered = ec2_event(WARNING, instance_id=INSTANCE, region="ap-south-1")
    assert origin_rejection(uncovered, ORIGIN, now=now) == (
        f"event of region ap-south-1, which the Spot rules do not cover ({REGION}, eu-west-1)"
    )


def test_a_time_in_the_future_is_rejected_beyond_a_minute_of_skew() -> None:
    # ec2_event's age is seconds in the past (negative: ahead); the event time has whole seconds
    now = time.time()
    assert origin_rejection(ec2_event(WARNING, instance_id=INSTANCE, age=-58), ORIGIN, now=now) is None
    rejection = origin_rejection(ec2_event(WARNING, instance_id=INSTANCE, age=-62), ORIGIN, now=now)
    assert rejection is not None and rejection.endswith("s in the future")
