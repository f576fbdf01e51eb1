"""What a cleanup step did, collected while it runs; and conversion of registry data to plain JSON."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kops_lambda.models.rollback import CleanupSummary


@dataclass
class Report:
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> CleanupSummary:
        return CleanupSummary(removed=self.removed, restored=self.restored, kept=self.kept)


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as int/float, recursively (what JSON and the Kubernetes API accept)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value
