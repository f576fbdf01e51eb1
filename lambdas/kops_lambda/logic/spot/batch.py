"""How the Spot handler spreads its work: a batch's records, and a Health event's instances, side by side."""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from kops_lambda.constants import SPOT_BATCH_SIZE

# Records of one batch are independent interruptions, often a whole Spot pool reclaimed at once: handled
# one after the other, a drain waiting on a PodDisruptionBudget would eat the next nodes' two minutes.
RECORD_CONCURRENCY = SPOT_BATCH_SIZE
# Instances of one Health event handled at once (an event may name hundreds; the API servers take the load).
HEALTH_CONCURRENCY = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


@lru_cache(maxsize=1)
def _record_pool() -> ThreadPoolExecutor:
    # Kept for the container's life: no thread start-up per batch.
    return ThreadPoolExecutor(max_workers=RECORD_CONCURRENCY, thread_name_prefix="spot-record")


@lru_cache(maxsize=1)
def notify_pool() -> ThreadPoolExecutor:
    """Both channels of every outcome being handled at once (records, and a Health event's instances); a send
    that outlives its wait finishes here. Threads start only as needed."""
    return ThreadPoolExecutor(max_workers=2 * RECORD_CONCURRENCY * HEALTH_CONCURRENCY, thread_name_prefix="spot-notify")


class _ConcurrentBatchProcessor(BatchProcessor):
    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) <= 1:
            return super().process()
        return list(_record_pool().map(self._process_record, self.records))


def concurrent_batch_processor() -> BatchProcessor:
    """An SQS batch processor whose records run side by side (partial failures reported as usual)."""
    return _ConcurrentBatchProcessor(event_type=EventType.SQS)


def side_by_side(items: Iterable[Item], handle: Callable[[Item], Result]) -> list[Result]:
    """A Health event's instances, each with the invocation's time rather than a share of it; the first
    failure is raised once all are done."""
    listed = list(items)
    if len(listed) <= 1:
        return [handle(item) for item in listed]
    with ThreadPoolExecutor(max_workers=min(len(listed), HEALTH_CONCURRENCY)) as pool:
        return list(pool.map(handle, listed))
