"""At most one run per interruption and action, across duplicates, follow-ups, retries and containers.

Powertools Idempotency on the stack's DynamoDB table (`id`, TTL on `expiration`): a conditional put marks
the key IN_PROGRESS (expiring with the invocation, so a crashed run does not block its retry), success
stores the outcome as COMPLETED, and an exception deletes the record, so a failed drain is retried in full.
COMPLETED records never change until they expire, so a warm container also keeps them in memory: a burst of
duplicates costs no DynamoDB call once the first one is done.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from kops_lambda.constants import SPOT_DEDUP_KEY_PREFIX, SPOT_DEDUP_TTL_SECONDS

Outcome = dict[str, Any]


class AlreadyInProgress(Exception):
    """Another record or invocation is handling this interruption and action right now."""


class InterruptionDedup:
    def __init__(
        self, *, table_name: str, dynamodb: Any, ttl_seconds: int = SPOT_DEDUP_TTL_SECONDS, local_items: int = 4096
    ) -> None:
        self._ttl = ttl_seconds
        self._local_items = local_items
        self._completed: OrderedDict[str, tuple[float, Outcome]] = OrderedDict()
        self._lock = threading.Lock()
        self._config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=ttl_seconds
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        self._run = idempotent_function(
            _run,
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self._config,
            key_prefix=SPOT_DEDUP_KEY_PREFIX,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """IN_PROGRESS records then expire with this invocation (a timed-out run unblocks its retry)."""
        self._config.register_lambda_context(context)

    def run_once(self, key: str, work: Callable[[], Outcome]) -> tuple[Outcome, bool]:
        """(outcome, replayed): `work()`'s outcome, or the stored one of the run that already did it."""
        known = self._known(key)
        if known is not None:
            return known, True
        ran: list[bool] = []

        def tracked() -> Outcome:
            ran.append(True)
            return work()

        try:
            outcome: Outcome = self._run(request={"key": key}, work=tracked)
        except IdempotencyAlreadyInProgressError:
            raise AlreadyInProgress(key) from None
        self._remember(key, outcome)
        return outcome, not ran

    def _known(self, key: str) -> Outcome | None:
        with self._lock:
            entry = self._completed.get(key)
            if entry is None:
                return None
            stored_at, outcome = entry
            if time.monotonic() - stored_at > self._ttl:
                del self._completed[key]
                return None
            self._completed.move_to_end(key)
            return outcome

    def _remember(self, key: str, outcome: Outcome) -> None:
        with self._lock:
            self._completed[key] = (time.monotonic(), outcome)
            self._completed.move_to_end(key)
            while len(self._completed) > self._local_items:
                self._completed.popitem(last=False)


def _run(*, request: dict[str, str], work: Callable[[], Outcome]) -> Outcome:
    return work()
