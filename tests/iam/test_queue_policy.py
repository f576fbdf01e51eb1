"""The Spot queue's resource policy, decided by PMapper: a principal of the account whose IAM policy allows
sqs:SendMessage everywhere still cannot put a message on the queue (only our EventBridge rules can, which a
template test shows: tests/infrastructure/test_spot_authentic.py; PMapper evaluates IAM principals, not
service principals)."""

import json
from typing import Any

from kops_local.system import LocalSystem
from tests.iam.conftest import Evaluation, _pmapper

SENDER = "user/probe-sender"


def _with_sender(evaluation: Evaluation) -> tuple[dict[str, Any], str]:
    arn = f"{evaluation.facts['iam']}:{SENDER}"
    sender = {
        "UserName": SENDER.rsplit("/", 1)[-1],
        "UserId": "AIDAPROBESENDER00001",
        "Arn": arn,
        "UserPolicyList": [
            {
                "PolicyName": "send-anywhere",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
                },
            }
        ],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }
    details = evaluation.details
    return {**details, "UserDetailList": [*details["UserDetailList"], sender]}, arn


def test_a_principal_allowed_to_send_anywhere_cannot_send_to_the_spot_queue(
    evaluation: Evaluation, local_system: LocalSystem
) -> None:
    sqs: Any = local_system.aws.client("sqs")
    url = local_system.output("SpotEventQueueUrl")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "Policy"])["Attributes"]
    details, sender = _with_sender(evaluation)
    send = {"principal": sender, "action": "sqs:SendMessage", "resource": attributes["QueueArn"]}
    owner = local_system.aws.account_id
    over_tls = {**send, "context": {"aws:SecureTransport": "true"}}
    policy = json.loads(attributes["Policy"])
    answer = _pmapper(
        {
            "authorization_details": details,
            # The request without the queue's policy, then against the queue as deployed
            "queries": [over_tls, {**over_tls, "resource_policy": policy, "resource_owner": owner}],
        }
    )
    allowed_by_iam, allowed_by_the_queue = answer["decisions"]
    # Its own IAM policy allows the request (over TLS, so the TLS-only statement does not apply): the queue's
    # policy alone refuses it
    assert allowed_by_iam is True
    assert allowed_by_the_queue is False
