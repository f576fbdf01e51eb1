"""EventBridge target delivery for SQS, Lambda and Step Functions, in the shape AWS delivers.

moto 5.2.5 matches rules on `put_events` but raises NotImplementedError (HTTP 500) for Lambda targets, and
the SQS body it builds lacks `account` and fills InputTransformer templates without JSON-quoting. We
replace `Rule.send_to_targets`: SQS, Lambda and state machine targets are delivered here (see `event_input`
for what they receive; a state machine gets a new execution with it as input), and so are event buses
(another region's, as the Spot forwarders use): moto would put a new event there, with a new id, time, and
the target's region and account, where EventBridge passes the event on as it is, so the target bus's rules
see the original `region`, `account`, `source`, `detail-type`, id and time. Every other target type (logs,
archives, API destinations) goes to moto's own code.
Disabled rules deliver nothing (moto would still deliver). moto never runs schedules: `fire_scheduled_rule`
runs one now. Lambda targets are invoked asynchronously, like EventBridge does, but without its retry policy
or target DLQ; a failing target never fails PutEvents.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.events.models import Rule, events_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.utilities.arns import parse_arn

from kops_local.aws.event_input import target_input
from kops_local.aws.lambda_runtime import LocalLambdaRuntime
from kops_local.aws.patching import AttributePatch

_LOG = logging.getLogger(__name__)
_DELIVERED_HERE = ("sqs", "lambda", "states", "events")


def _deliver_to_sqs(target: dict[str, Any], payload: Any) -> None:
    arn = parse_arn(target["Arn"])
    group_id = target.get("SqsParameters", {}).get("MessageGroupId")
    # EventBridge sends the JSON text; a plain-text InputTransformer result is sent as is.
    body = payload if isinstance(payload, str) else json.dumps(payload)
    sqs_backends[arn.account][arn.region].send_message(queue_name=arn.resource_id, message_body=body, group_id=group_id)


def _deliver_to_lambda(runtime: LocalLambdaRuntime, target: dict[str, Any], payload: Any) -> None:
    arn = parse_arn(target["Arn"])
    function = get_lambda_backend(arn.account, arn.region).get_function(target["Arn"])
    runtime.invoke_async(function, payload)


def _deliver_to_state_machine(target: dict[str, Any], payload: Any) -> None:
    arn = parse_arn(target["Arn"])
    backend = stepfunctions_parser_backends[arn.account][arn.region]
    # StartExecution runs the program on a thread of its own: this returns at once, like EventBridge.
    backend.start_execution(target["Arn"], name=f"events-{uuid.uuid4().hex}", execution_input=json.dumps(payload))


def _deliver_to_event_bus(target: dict[str, Any], event: dict[str, Any]) -> None:
    arn = parse_arn(target["Arn"])
    bus = events_backends[arn.account][arn.region].describe_event_bus(arn.resource_id)
    for rule in list(bus.rules.values()):
        rule.send_to_targets(cast(Any, copy.deepcopy(event)))


def _delivered_here(target: dict[str, Any]) -> bool:
    arn = parse_arn(target["Arn"])
    # Of the events service's targets, only buses: archives and API destinations stay moto's.
    return arn.service in _DELIVERED_HERE and (arn.service != "events" or arn.resource_type == "event-bus")


def _deliver(runtime: LocalLambdaRuntime, rule: Rule, event: dict[str, Any], *, transform: bool) -> None:
    for target in rule.targets:
        if not _delivered_here(target):
            continue
        service = parse_arn(target["Arn"]).service
        try:
            if service == "events":
                # A bus gets the event itself: EventBridge applies no input transformation there.
                _deliver_to_event_bus(target, event)
                continue
            payload = target_input(target, event, rule_name=rule.name, rule_arn=rule.arn, transform=transform)
            if service == "sqs":
                _deliver_to_sqs(target, payload)
            elif service == "states":
                _deliver_to_state_machine(target, payload)
            else:
                _deliver_to_lambda(runtime, target, payload)
        except Exception:
            _LOG.warning("EventBridge delivery to %s failed", target["Arn"], exc_info=True)


def fire_scheduled_rule(runtime: LocalLambdaRuntime, *, account: str, region: str, name: str) -> str:
    """What EventBridge does when a scheduled rule's time comes: its targets get a `Scheduled Event` (Lambda
    targets asynchronously). moto keeps schedules but never runs them. Returns the event's id."""
    rule = events_backends[account][region].describe_rule(name, None)
    if not rule.scheduled_expression:
        raise ValueError(f"rule {name} has no schedule")
    event_id = str(uuid.uuid4())
    if rule.state != "ENABLED":
        return event_id
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.arn],
        "detail": {},
    }
    _deliver(runtime, rule, event, transform=True)
    return event_id


def events_delivery_patch(runtime: LocalLambdaRuntime) -> AttributePatch:
    """Patch for `moto.events.models.Rule.send_to_targets`."""
    moto_send_to_targets = vars(Rule)["send_to_targets"]

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        # A schedule-only rule has no pattern, which moto's matcher takes for "match every event"; AWS never
        # sends it an event.
        scheduled_only = not self.event_pattern.dump()
        if self.state != "ENABLED" or scheduled_only or not self.event_pattern.matches_event(original_event):
            return
        _deliver(runtime, self, dict(original_event), transform=transform_input)
        others = [target for target in self.targets if not _delivered_here(target)]
        if others:
            # A shallow copy keeps moto's rule untouched while it only sees the targets we do not handle.
            rest = copy.copy(self)
            rest.targets = others
            moto_send_to_targets(rest, original_event, transform_input)

    return AttributePatch(Rule, "send_to_targets", send_to_targets)
