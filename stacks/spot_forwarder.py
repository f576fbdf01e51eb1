"""A Spot forwarder: in one more region of spotRegions, the home stack's Spot rules (stacks/spot.py), each
sending what it matches to the home region's default event bus. EventBridge keeps the event's `region`,
`account`, `id` and `time` across buses, so the home rules match it and the one queue and handler serve every
region. The rules' role may put events on that one bus and nothing else."""

from typing import Any

from aws_cdk import Stack, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from kops_lambda.constants import PRODUCT, TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE
from stacks.spot import spot_rules, spot_settings


class SpotForwarderStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, home_region: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add(TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE)
        self.home_bus_arn = self.format_arn(
            service="events", region=home_region, resource="event-bus", resource_name="default"
        )
        home_bus = events.EventBus.from_event_bus_arn(self, "HomeBus", self.home_bus_arn)
        # The target grants this role events:PutEvents on the home bus (its only permission).
        self.role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"{PRODUCT}: forward {self.region} Spot events to the {home_region} default event bus",
        )
        self.rules = [
            events.Rule(
                self,
                rule.construct_id,
                description=f"{rule.description} (forwarded to {home_region})",
                event_pattern=rule.pattern,
                targets=[targets.EventBus(home_bus, role=self.role)],
            )
            # This bus sees its own region's events only; the account filter keeps other accounts' out.
            for rule in spot_rules(
                account=self.account,
                regions=(self.region,),
                lifecycle_hook_name=spot_settings(self, dry_run=False).lifecycle_hook_name,
            )
        ]
