"""What handling one interruption event came to (logged, stored by dedup, counted), and the messages of the
Kubernetes Events that tell it on the node."""

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kops_lambda.logic.spot.drain import DrainReport
from kops_lambda.logic.spot.plan import Plan
from kops_lambda.models.events import Ec2InterruptionEvent, ScheduledChangeEvent
from kops_lambda.settings import SpotAction

METRIC_UNITS = {"EventAgeOnReceipt": "Seconds", "TimeToCordon": "Milliseconds", "DrainSeconds": "Seconds"}
# What is counted when no outcome is reached: the record's body is not an event, handling it failed (SQS
# retries it), a Health event names no EC2 instance.
MALFORMED_METRICS = {"MalformedEvents": 1}
FAILED_METRICS = {"FailedEvents": 1}
NO_INSTANCE_METRICS = {"IgnoredEvents": 1}
LEFT_SAMPLE = 20  # pods named in the outcome (it is stored in DynamoDB and logged: keep it small)


@dataclass(frozen=True)
class SpotOutcome:
    event_id: str
    instance_id: str
    kind: str  # warning | rebalance | state-change | capacity-reservation | lifecycle-hook | scheduled-change
    action: str  # the planned action: none | taint | cordon | drain
    # rejected (not an authentic event) | ignored | unchanged | tainted | cordoned | drained | drain-incomplete |
    # dry-run | duplicate
    result: str
    reason: str = ""
    cluster_name: str | None = None
    node_name: str | None = None
    event_age_seconds: float = 0.0
    cordon_ms: float | None = None  # receipt -> node patched
    drain_seconds: float | None = None
    pods_evicted: int = 0
    pods_left: int = 0
    pods_skipped: int = 0
    pods_force_deleted: int = 0
    left_sample: list[str] = field(default_factory=list)
    replacement: str = ""
    out_of_service: bool = False  # the node was tainted out-of-service after the drain
    lifecycle_action: str = ""  # lifecycle hooks: completed | already completed ("": not completed by us)
    lifecycle_heartbeats: int = 0
    duplicate_of: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """The CloudWatch metrics this outcome counts (name -> value; units in METRIC_UNITS, else Count)."""
        if self.result == "rejected":
            # Not an interruption: its age (negative for a future time) would distort EventAgeOnReceipt.
            return {"RejectedEvents": 1}
        values: dict[str, float] = {"EventAgeOnReceipt": self.event_age_seconds}
        if self.result == "ignored":
            values["IgnoredEvents"] = 1
        elif self.result == "duplicate":
            values["DuplicateEvents"] = 1
        if self.cordon_ms is not None:
            values["TimeToCordon"] = self.cordon_ms
        if self.result in ("cordoned", "drained", "drain-incomplete"):
            values["NodesCordoned"] = 1
        if self.result == "drained":
            values["NodesDrained"] = 1
        if self.lifecycle_action == "completed":
            values["LifecycleActionsCompleted"] = 1
        if self.drain_seconds is not None:
            values |= {
                "DrainSeconds": self.drain_seconds,
                "PodsEvicted": self.pods_evicted,
                "PodsLeftAtDeadline": self.pods_left,
                "PodsForceDeleted": self.pods_force_deleted,
            }
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpotOutcome":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def with_report(outcome: SpotOutcome, action: SpotAction, report: DrainReport | None, replaced: str) -> SpotOutcome:
    result = {SpotAction.TAINT: "tainted", SpotAction.CORDON: "cordoned", SpotAction.DRAIN: "drained"}[action]
    outcome = replace(outcome, result=result, replacement=replaced)
    if report is None:
        return outcome
    return replace(
        outcome,
        result="drained" if report.complete else "drain-incomplete",
        drain_seconds=round(report.seconds, 3),
        pods_evicted=len(report.evicted) + len(report.gone),
        pods_left=len(report.left),
        pods_skipped=sum(report.skipped.values()),
        pods_force_deleted=len(report.force_deleted),
        left_sample=[f"{pod}: {why}" for pod, why in list(report.left.items())[:LEFT_SAMPLE]],
    )


def interruption_message(event: Ec2InterruptionEvent, plan: Plan) -> str:
    deadline = datetime.fromtimestamp(plan.deadline, UTC).strftime("%H:%M:%SZ")
    doing = {
        SpotAction.TAINT: "tainted PreferNoSchedule",
        SpotAction.CORDON: "cordoned, tainted and excluded from external load balancers",
        SpotAction.DRAIN: f"cordoned, tainted, excluded from external load balancers; draining until {deadline}",
    }[plan.action]
    what: str = event.detail_type
    if isinstance(event, ScheduledChangeEvent):
        when = event.detail.start_time.isoformat() if event.detail.start_time else "an unstated time"
        what = f"{what} {event.detail.event_type_code} at {when}"
    text = f"{what} (event {event.id}, {plan.event_age:.0f} s old): {doing}"
    return f"{text}; {plan.note}" if plan.note else text


def drain_message(report: DrainReport, replaced: str, *, out_of_service: bool = False) -> str:
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(report.skipped.items())) or "none"
    text = f"evicted {len(report.evicted) + len(report.gone)} pods in {report.seconds:.1f} s (skipped: {skipped})"
    if report.left:
        left = ", ".join(f"{pod} ({why})" for pod, why in report.left.items())
        text = f"{len(report.left)} pods not evicted by the deadline: {left}; {text}"
    if report.force_deleted:
        text += f"; force-deleted {len(report.force_deleted)}"
    if out_of_service:
        text += "; tainted out-of-service"
    return f"{text}; {replaced}" if replaced else text
