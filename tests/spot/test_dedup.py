"""Persistent dedup on DynamoDB (moto): once per key, retries not blocked, concurrent runs told apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kops_lambda.logic.spot.dedup import AlreadyInProgress, InterruptionDedup
from tests.spot.conftest import DEDUP_TABLE, create_tables, lambda_context


@pytest.fixture
def dedup(aws: Callable[[str], Any]) -> InterruptionDedup:
    create_tables(aws)
    dedup = InterruptionDedup(table_name=DEDUP_TABLE, dynamodb=aws("dynamodb"))
    dedup.register_lambda_context(lambda_context())
    return dedup


def test_a_key_runs_once_and_later_calls_get_the_stored_outcome(dedup: InterruptionDedup) -> None:
    runs: list[str] = []

    def work(name: str) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            runs.append(name)
            return {"event_id": name, "result": "drained"}

        return run

    first = dedup.run_once("i-0abc#drain", work("first"))
    second = dedup.run_once("i-0abc#drain", work("second"))
    other = dedup.run_once("i-0abc#taint", work("taint"))
    assert first == ({"event_id": "first", "result": "drained"}, False)
    assert second == ({"event_id": "first", "result": "drained"}, True)
    assert other == ({"event_id": "taint", "result": "drained"}, False)
    assert runs == ["first", "taint"]


def test_a_failed_run_leaves_no_record_so_its_retry_runs(dedup: InterruptionDedup, aws: Callable[[str], Any]) -> None:
    def failing() -> dict[str, Any]:
        raise TimeoutError("API server unreachable")

    with pytest.raises(TimeoutError):
        dedup.run_once("i-0abc#drain", failing)
    assert aws("dynamodb").scan(TableName=DEDUP_TABLE)["Count"] == 0
    assert dedup.run_once("i-0abc#drain", lambda: {"result": "drained"}) == ({"result": "drained"}, False)


def test_a_run_in_progress_elsewhere_is_reported_as_such(dedup: InterruptionDedup) -> None:
    def nested() -> dict[str, Any]:
        # Another invocation asking for the same key while this one holds it
        with pytest.raises(AlreadyInProgress):
            dedup.run_once("i-0abc#drain", lambda: {"result": "twice"})
        return {"result": "drained"}

    assert dedup.run_once("i-0abc#drain", nested) == ({"result": "drained"}, False)


def test_records_expire_and_are_keyed_without_the_raw_key(dedup: InterruptionDedup, aws: Callable[[str], Any]) -> None:
    dedup.run_once("i-0abc#drain", lambda: {"result": "drained"})
    (item,) = aws("dynamodb").scan(TableName=DEDUP_TABLE)["Items"]
    assert item["id"]["S"].startswith("spot-interruption#")
    assert item["status"]["S"] == "COMPLETED"
    assert int(item["expiration"]["N"]) > 0


def test_duplicates_of_a_completed_run_cost_no_dynamodb_call(aws: Callable[[str], Any]) -> None:
    # Given a dedup on a client whose DynamoDB calls are counted
    create_tables(aws)
    dynamodb = aws("dynamodb")
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    dedup = InterruptionDedup(table_name=DEDUP_TABLE, dynamodb=dynamodb)
    dedup.register_lambda_context(lambda_context())
    dedup.run_once("i-0abc#drain", lambda: {"result": "drained"})
    calls.clear()
    # When the same key comes 5 more times in this container
    results = [dedup.run_once("i-0abc#drain", lambda: {"result": "again"}) for _ in range(5)]
    # Then the stored outcome is replayed from memory
    assert results == [({"result": "drained"}, True)] * 5
    assert calls == []
