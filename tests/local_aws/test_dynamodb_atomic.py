"""Conditional writes of one key from two threads at once: exactly one wins, as in DynamoDB.

moto evaluates a write's condition between reading the item and storing the new one. To make the overlap
certain rather than rare, the condition step waits (up to a second) for the other request to reach it too:
without the local endpoint's write lock both requests read "no item" and both writes succeed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import table as dynamodb_table

from kops_local.aws import LocalAws
from tests.local_aws.conftest import unique

MEET_SECONDS = 1.0


def _meeting(original: Callable[..., Any], barrier: threading.Barrier) -> Callable[..., Any]:
    def condition_step(*args: Any, **kwargs: Any) -> Any:
        # Broken after the timeout when the other request is held back by the lock: go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=MEET_SECONDS)
        return original(*args, **kwargs)

    return condition_step


def _claim_by_put(dynamodb: Any, table: str, owner: str) -> None:
    dynamodb.put_item(
        TableName=table,
        Item={"id": {"S": "lease"}, "owner": {"S": owner}},
        ConditionExpression="attribute_not_exists(id)",
    )


def _claim_by_update(dynamodb: Any, table: str, owner: str) -> None:
    dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": "lease"}},
        UpdateExpression="SET #owner = :owner",
        ConditionExpression="attribute_not_exists(#owner)",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":owner": {"S": owner}},
    )


@pytest.mark.parametrize(
    ("claim", "module", "condition_step"),
    [
        pytest.param(_claim_by_put, dynamodb_table, "get_filter_expression", id="put_item"),
        pytest.param(_claim_by_update, dynamodb_models, "create_condition_expression_parser", id="update_item"),
    ],
)
def test_two_conditional_writes_of_one_key_at_once_have_one_winner(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch, claim: Callable[..., None], module: Any, condition_step: str
) -> None:
    # Given a table, and moto's condition step holding each request until the other one reaches it too
    dynamodb = local_aws.client("dynamodb")
    table = unique("atomic")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setattr(module, condition_step, _meeting(getattr(module, condition_step), threading.Barrier(2)))
    # When two clients claim the same key at once
    outcomes: dict[str, str] = {}

    def attempt(owner: str) -> None:
        try:
            claim(local_aws.client("dynamodb"), table, owner)
            outcomes[owner] = "won"
        except ClientError as exc:
            outcomes[owner] = exc.response["Error"]["Code"]

    threads = [threading.Thread(target=attempt, args=(owner,)) for owner in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one of them won, the other was refused by its condition, and the item is the winner's
    assert sorted(outcomes.values()) == ["ConditionalCheckFailedException", "won"]
    (winner,) = [owner for owner, outcome in outcomes.items() if outcome == "won"]
    stored = dynamodb.get_item(TableName=table, Key={"id": {"S": "lease"}}, ConsistentRead=True)["Item"]
    assert stored["owner"] == {"S": winner}
