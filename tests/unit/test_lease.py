"""The cluster lease (one workflow per cluster at a time) on moto: taken, refused with ClusterBusy while
its holder runs, taken over once the holder has ended or the lease has expired, released only by its owner."""

import json
import time
from typing import Any

import boto3
import pytest

from kops_lambda.constants import LEASE_SECONDS, WORKFLOW_TIMEOUT_MINUTES
from kops_lambda.errors import ClusterBusy
from kops_lambda.logic.lease import acquire_cluster_lease, lease_key, release_cluster_lease
from tests.rollback.conftest import create_registry

REGION = "us-east-1"
CLUSTER = "a.k8s.local"


@pytest.fixture
def table(aws: Any) -> Any:
    return create_registry(aws("dynamodb"))


@pytest.fixture
def executions(aws: Any) -> Any:
    """Starts executions of a state machine (they stay RUNNING: in-process moto does not run them)."""
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name="m",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    return lambda name: sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]


def _acquire(aws: Any, table: Any, owner: str, now: float | None = None) -> None:
    acquire_cluster_lease(table, aws("stepfunctions"), region=REGION, cluster_name=CLUSTER, owner=owner, now=now)


def _owner(table: Any) -> str | None:
    item = table.get_item(Key={"cluster_key": lease_key(REGION, CLUSTER)}, ConsistentRead=True).get("Item")
    return None if item is None else str(item["owner"])


def test_a_running_holder_makes_a_second_execution_busy(aws: Any, table: Any, executions: Any) -> None:
    # Given a running execution holding the lease
    first, second = executions("first"), executions("second")
    _acquire(aws, table, first)
    # When a second one asks for it, then Then it is refused, the error naming the holder
    with pytest.raises(ClusterBusy, match=first):
        _acquire(aws, table, second)
    assert _owner(table) == first
    # And the holder's retried step takes it again (re-entrant)
    _acquire(aws, table, first)


def test_only_the_owner_releases_and_then_another_may_take_it(aws: Any, table: Any, executions: Any) -> None:
    first, second = executions("first"), executions("second")
    _acquire(aws, table, first)
    assert not release_cluster_lease(table, region=REGION, cluster_name=CLUSTER, owner=second)
    assert _owner(table) == first
    assert release_cluster_lease(table, region=REGION, cluster_name=CLUSTER, owner=first)
    assert _owner(table) is None
    _acquire(aws, table, second)
    assert _owner(table) == second


def test_the_lease_of_an_ended_execution_is_taken_over(aws: Any, table: Any, executions: Any) -> None:
    # Given a holder that was stopped before it could release the lease
    first, second = executions("first"), executions("second")
    _acquire(aws, table, first)
    aws("stepfunctions").stop_execution(executionArn=first)
    # When another execution asks, Then it gets the lease
    _acquire(aws, table, second)
    assert _owner(table) == second


def test_an_expired_lease_is_taken_over_even_if_its_holder_still_shows_running(
    aws: Any, table: Any, executions: Any
) -> None:
    first, second = executions("first"), executions("second")
    taken = time.time()
    _acquire(aws, table, first, now=taken)
    with pytest.raises(ClusterBusy):
        _acquire(aws, table, second, now=taken + LEASE_SECONDS - 1)
    _acquire(aws, table, second, now=taken + LEASE_SECONDS + 1)
    assert _owner(table) == second


def test_the_lease_outlives_the_workflow_timeout() -> None:
    assert LEASE_SECONDS > WORKFLOW_TIMEOUT_MINUTES * 60


def test_leases_of_two_clusters_are_independent(aws: Any, table: Any, executions: Any) -> None:
    first, second = executions("first"), executions("second")
    _acquire(aws, table, first)
    acquire_cluster_lease(table, aws("stepfunctions"), region=REGION, cluster_name="b.k8s.local", owner=second)
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName="registry")["Count"] == 2
