"""EventBridge target delivery for SQS, Lambda and Step Functions, in the shape AWS delivers.

moto 5.2.5 matches rules on `put_events` but raises NotImplementedError (HTTP 500) for Lambda targets, and
the SQS body it builds lacks `account` and fills InputTransformer templates without JSON-quoting. We
replace `Rule.send_to_targets`: SQS, Lambda and state machine targets are delivered here (see `event_input`
for what they receive; a state machine gets a new execution with it as input); every other target type
(logs, archives, buses, API destinations) goes to moto's own code.
Disabled rules deliver nothing (moto would still deliver). Lambda targets are invoked asynchronously, like
EventBridge does, but without its retry policy or target DLQ; a failing target never fails PutEvents.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from typing import Any

from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.events.models import Rule
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.utilities.arns import parse_arn

from kops_onboard.local.aws.event_input import target_input
from kops_onboard.local.aws.lambda_runtime import LocalLambdaRuntime
from kops_onboard.local.aws.patching import AttributePatch

_LOG = logging.getLogger(__name__)
_DELIVERED_HERE = ("sqs", "lambda", "states")


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


def events_delivery_patch(runtime: LocalLambdaRuntime) -> AttributePatch:
    """Patch for `moto.events.models.Rule.send_to_targets`."""
    moto_send_to_targets = vars(Rule)["send_to_targets"]

    def send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        for target in self.targets:
            service = parse_arn(target["Arn"]).service
            if service not in _DELIVERED_HERE:
                continue
            try:
                payload = target_input(
                    target,
                    dict(original_event),
                    rule_name=self.name,
                    rule_arn=self.arn,
                    transform=transform_input,
                )
                if service == "sqs":
                    _deliver_to_sqs(target, payload)
                elif service == "states":
                    _deliver_to_state_machine(target, payload)
                else:
                    _deliver_to_lambda(runtime, target, payload)
            except Exception:
                _LOG.warning("EventBridge delivery to %s failed", target["Arn"], exc_info=True)
        others = [target for target in self.targets if parse_arn(target["Arn"]).service not in _DELIVERED_HERE]
        if others:
            # A shallow copy keeps moto's rule untouched while it only sees the targets we do not handle.
            rest = copy.copy(self)
            rest.targets = others
            moto_send_to_targets(rest, original_event, transform_input)

    return AttributePatch(Rule, "send_to_targets", send_to_targets)
