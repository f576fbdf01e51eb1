"""A cluster lease held by another running execution, for tests of ClusterBusy."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kops_lambda.constants import LEASE_SECONDS, REGISTRY_TTL_ATTRIBUTE
from kops_lambda.logic.lease import lease_key
from kops_local.system import LocalSystem
from kops_onboard.executions import start_execution

_WAITING = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}


@contextmanager
def lease_held_by_a_running_execution(system: LocalSystem, cluster_name: str) -> Iterator[str]:
    """Yields the ARN of a RUNNING execution that holds the cluster's lease; stops it at the end."""
    sfn = system.aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"holder-{cluster_name.replace('.', '-')}",
        definition=json.dumps(_WAITING),
        roleArn=f"arn:aws:iam::{system.aws.account_id}:role/holder",
    )["stateMachineArn"]
    holder = start_execution(sfn, machine, {}, name_prefix="holder")
    table = system.output("RegistryTableName")
    key = lease_key(system.region, cluster_name)
    item: dict[str, Any] = {
        "cluster_key": {"S": key},
        "owner": {"S": holder},
        "taken_at": {"S": "2026-01-01T00:00:00+00:00"},
        "expires_at": {"N": "9999999999"},
        REGISTRY_TTL_ATTRIBUTE: {"N": str(LEASE_SECONDS)},
    }
    system.aws.client("dynamodb").put_item(TableName=table, Item=item)
    try:
        yield holder
    finally:
        sfn.stop_execution(executionArn=holder)
        system.aws.client("dynamodb").delete_item(TableName=table, Key={"cluster_key": {"S": key}})
        sfn.delete_state_machine(stateMachineArn=machine)
