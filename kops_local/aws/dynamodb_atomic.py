"""DynamoDB writes one at a time, as DynamoDB applies a conditional write: check and write are one step.

moto's threaded server runs each request on its own thread, and its `put_item`, `update_item`,
`delete_item` and `transact_write_items` read the item, evaluate the condition and then store the result
without a lock. Two conditional puts of one key that overlap can therefore both pass `attribute_not_exists`
(seen: two records of one SQS batch both took the Spot dedup's IN_PROGRESS mark and drained one node
twice). Our leases, markers and the dedup depend on that atomicity, so the local endpoint serializes moto's
DynamoDB writes behind one lock. Reads stay concurrent: each returns one stored item version.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

from kops_local.aws.patching import AttributePatch

# Every DynamoDBBackend action that changes items (PartiQL included), so none of them interleaves another.
WRITE_ACTIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_WRITE_LOCK = threading.RLock()


def _serialized(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return write(self, *args, **kwargs)

    return locked


def atomic_write_patches() -> list[AttributePatch]:
    """Patches that run each DynamoDB write action under one lock."""
    return [AttributePatch(DynamoDBBackend, name, _serialized(vars(DynamoDBBackend)[name])) for name in WRITE_ACTIONS]
