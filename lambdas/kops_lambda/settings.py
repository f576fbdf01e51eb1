"""Function settings from the environment, read when a handler runs (never at import time)."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kops_lambda.constants import (
    DEFAULT_LIFECYCLE_HOOK_NAME,
    ENV_ACCESS_KEY_ROTATION_DAYS,
    ENV_ACCESS_KEY_ROTATION_TOPIC_ARN,
    ENV_IDEMPOTENCY_TABLE,
    ENV_LOCAL_WEBHOOK_CA_BUNDLE,
    ENV_REGISTRY_TABLE,
    ENV_SECRET_READER_ARNS,
    ENV_SECRETS_KMS_KEY,
    ENV_SEED_SPOT_ROLE_POLICIES,
    ENV_SPOT_ACCOUNT,
    ENV_SPOT_CAPACITY_RESERVATION_ACTION,
    ENV_SPOT_DEADLINE_MARGIN,
    ENV_SPOT_DRAIN_CONTROL_PLANE,
    ENV_SPOT_DRY_RUN,
    ENV_SPOT_EARLY_REPLACEMENT,
    ENV_SPOT_EVICTION_CONCURRENCY,
    ENV_SPOT_FORCE_DELETE,
    ENV_SPOT_LIFECYCLE_ACTION,
    ENV_SPOT_LIFECYCLE_HOOK_NAME,
    ENV_SPOT_NOTIFICATION_TOPIC_ARN,
    ENV_SPOT_OUT_OF_SERVICE_TAINT,
    ENV_SPOT_REBALANCE_ACTION,
    ENV_SPOT_REGIONS,
    ENV_SPOT_SCHEDULED_CHANGE_ACTION,
    ENV_SPOT_STATE_CHANGE_ACTION,
    ENV_SPOT_WARNING_ACTION,
    ENV_SPOT_WEBHOOK_TEMPLATE,
    ENV_SPOT_WEBHOOK_URL_SECRET_ARN,
)
from kops_lambda.errors import InvalidSettings


@dataclass(frozen=True)
class Settings:
    region: str
    registry_table: str
    idempotency_table: str
    secrets_kms_key: str | None
    secret_reader_arns: list[str]
    seed_spot_role_policies: bool = False


def load_settings() -> Settings:
    return Settings(
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        registry_table=os.environ.get(ENV_REGISTRY_TABLE, ""),
        idempotency_table=os.environ.get(ENV_IDEMPOTENCY_TABLE, ""),
        secrets_kms_key=os.environ.get(ENV_SECRETS_KMS_KEY) or None,
        secret_reader_arns=[arn for arn in os.environ.get(ENV_SECRET_READER_ARNS, "").split(",") if arn],
        seed_spot_role_policies=os.environ.get(ENV_SEED_SPOT_ROLE_POLICIES, "false").lower() == "true",
    )


# aws (us-east-1), aws-us-gov (us-gov-west-1), aws-cn (cn-north-1) and the isolated partitions (us-iso-east-1).
_REGION_NAME = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[1-9]")


def parse_regions(value: object, *, setting: str) -> tuple[str, ...]:
    """Region names from a list or a comma-separated string, in order, without repeats; InvalidSettings
    names `setting` and the bad value."""
    if isinstance(value, str):
        items: list[object] = [*value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise InvalidSettings(f"{setting} must be a list of region names or a comma-separated string, not {value!r}")
    regions: list[str] = []
    for item in items:
        region = item.strip() if isinstance(item, str) else item
        if region == "":
            continue
        if not isinstance(region, str) or not _REGION_NAME.fullmatch(region):
            raise InvalidSettings(f"{setting}: {region!r} is not an AWS region name (like eu-west-1)")
        if region not in regions:
            regions.append(region)
    return tuple(regions)


@dataclass(frozen=True)
class EventOrigin:
    """Where the Spot handler accepts events from: the stack's account and the regions its rules cover."""

    account: str
    regions: tuple[str, ...]


def load_event_origin(home_region: str, environ: Mapping[str, str] | None = None) -> EventOrigin:
    """The accepted origin as the stack set it; without the account the handler cannot tell a forged event
    from a real one, so that is a configuration error (never a default)."""
    env = os.environ if environ is None else environ
    account = env.get(ENV_SPOT_ACCOUNT, "").strip()
    if not re.fullmatch(r"\d{12}", account):
        raise InvalidSettings(f"{ENV_SPOT_ACCOUNT} must be the stack's 12-digit account id, not {account!r}")
    return EventOrigin(account=account, regions=load_spot_regions(home_region, env))


def load_spot_regions(home_region: str, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The regions this deployment's Spot rules cover, as the stack set them; unset: the home region only."""
    env = os.environ if environ is None else environ
    return parse_regions(env.get(ENV_SPOT_REGIONS, ""), setting=ENV_SPOT_REGIONS) or (home_region,)


class SpotAction(StrEnum):
    """What the Spot handler does about one kind of event; each includes the ones before it."""

    NONE = "none"  # acknowledge, count, touch nothing
    TAINT = "taint"  # our taint with PreferNoSchedule: the scheduler avoids the node, nothing moves
    CORDON = "cordon"  # unschedulable + our taint (NoSchedule) + excluded from external load balancers
    DRAIN = "drain"  # cordon, then evict every pod that can move, against the deadline


class SpotSettings(BaseModel):
    """The Spot handler's settings. Defaults here are the documented ones; the stack sets each explicitly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = False
    warning_action: SpotAction = SpotAction.DRAIN
    rebalance_action: SpotAction = SpotAction.TAINT
    state_change_action: SpotAction = SpotAction.DRAIN
    capacity_reservation_action: SpotAction = SpotAction.DRAIN
    lifecycle_action: SpotAction = SpotAction.DRAIN
    scheduled_change_action: SpotAction = SpotAction.DRAIN
    # The termination lifecycle hook whose actions we handle and complete (the rule matches no other).
    lifecycle_hook_name: str = Field(default=DEFAULT_LIFECYCLE_HOOK_NAME, pattern=r"^[A-Za-z0-9\-_/]{1,255}$")
    # Seconds kept free before the instance goes away (pods need their SIGKILL window, we need to report).
    deadline_margin_seconds: int = Field(default=15, ge=0, le=60)
    eviction_concurrency: int = Field(default=32, ge=1, le=256)
    # Detach a warned instance from its ASG (desired capacity kept) so the replacement starts at once.
    early_replacement: bool = True
    # Delete (bypassing PodDisruptionBudgets) what eviction could not move by the deadline.
    force_delete: bool = False
    # Drain control-plane nodes too (they are cordoned only by default); they are never detached from their ASG.
    drain_control_plane: bool = False
    # After the drain of an instance that is going away (not stopped or hibernated), taint its node
    # out-of-service (NoExecute), so what is left is deleted and its volumes detached without waiting.
    out_of_service_taint: bool = False
    # Minutes between two runs of the Spot canary (the stack's schedule; no function reads it).
    canary_minutes: int = Field(default=15, ge=1, le=1440)
    # Notifications of an interruption's outcome; empty: off. The stack checks them at synth
    # (logic.spot.notify.check_notification_settings); a bad one at run time fails a notification, never a drain.
    notification_topic_arn: str = ""
    # The topic's customer managed KMS key, if it is encrypted with one (the stack's grant; no function reads it).
    notification_topic_key_arn: str = ""
    webhook_url_secret_arn: str = ""  # the secret holding the webhook's URL (URLs often carry a token)
    webhook_template: str = ""  # string.Template of the JSON body; empty: the default

    def environment(self) -> dict[str, str]:
        """The environment variables that load_spot_settings reads back into these settings."""
        values = self.model_dump(mode="json")
        # Unset optional ones (notifications) are left out: the default template stays as it was.
        return {
            name: _env_text(field, values[field])
            for field, name in _SPOT_ENV.items()
            if values[field] != "" or field not in _OPTIONAL
        }


_SPOT_ENV: dict[str, str] = {
    "dry_run": ENV_SPOT_DRY_RUN,
    "warning_action": ENV_SPOT_WARNING_ACTION,
    "rebalance_action": ENV_SPOT_REBALANCE_ACTION,
    "state_change_action": ENV_SPOT_STATE_CHANGE_ACTION,
    "capacity_reservation_action": ENV_SPOT_CAPACITY_RESERVATION_ACTION,
    "lifecycle_action": ENV_SPOT_LIFECYCLE_ACTION,
    "scheduled_change_action": ENV_SPOT_SCHEDULED_CHANGE_ACTION,
    "lifecycle_hook_name": ENV_SPOT_LIFECYCLE_HOOK_NAME,
    "deadline_margin_seconds": ENV_SPOT_DEADLINE_MARGIN,
    "eviction_concurrency": ENV_SPOT_EVICTION_CONCURRENCY,
    "early_replacement": ENV_SPOT_EARLY_REPLACEMENT,
    "force_delete": ENV_SPOT_FORCE_DELETE,
    "drain_control_plane": ENV_SPOT_DRAIN_CONTROL_PLANE,
    "out_of_service_taint": ENV_SPOT_OUT_OF_SERVICE_TAINT,
    "notification_topic_arn": ENV_SPOT_NOTIFICATION_TOPIC_ARN,
    "webhook_url_secret_arn": ENV_SPOT_WEBHOOK_URL_SECRET_ARN,
    "webhook_template": ENV_SPOT_WEBHOOK_TEMPLATE,
}
# Off when empty, and then not in the environment.
_OPTIONAL = frozenset({"notification_topic_arn", "webhook_url_secret_arn", "webhook_template"})


# Names, ARNs and templates keep their case; switches and actions are read case-insensitively.
_CASE_SENSITIVE = frozenset(
    {"lifecycle_hook_name", "notification_topic_arn", "webhook_url_secret_arn", "webhook_template"}
)


def _env_text(field: str, value: object) -> str:
    return str(value) if field in _CASE_SENSITIVE else str(value).lower()


def spot_settings_from(values: Mapping[str, object], names: Mapping[str, str] | None = None) -> SpotSettings:
    """Validate settings given by field name (CDK context, tests); InvalidSettings names the bad one (and its
    `names` entry, the context key, when given)."""
    try:
        return SpotSettings.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(f"{_setting_name(e['loc'], names)}: {e['msg']}" for e in exc.errors())
        raise InvalidSettings(f"Spot settings: {problems}") from None


def _setting_name(loc: tuple[int | str, ...], names: Mapping[str, str] | None) -> str:
    field = ".".join(str(p) for p in loc)
    key = (names or {}).get(field)
    return f"{key} ({field})" if key else field


def load_spot_settings(environ: Mapping[str, str] | None = None) -> SpotSettings:
    """Read the Spot settings from the environment; unset variables take their defaults."""
    env = os.environ if environ is None else environ
    values = {
        field: _env_text(field, env[name].strip()) for field, name in _SPOT_ENV.items() if env.get(name, "").strip()
    }
    return spot_settings_from(values)


def load_local_webhook_ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The local system's extra CAs for the webhook (a PEM file), or None: the stack never sets it."""
    env = os.environ if environ is None else environ
    return env.get(ENV_LOCAL_WEBHOOK_CA_BUNDLE, "").strip() or None


class RotationSettings(BaseModel):
    """The scheduled access-key rotation's settings (context accessKeyRotation*; off when `days` is not set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A key older than this many days is replaced at the next daily run.
    days: int = Field(ge=1, le=3650)
    # Where a rotation is announced (cluster, secret ARN, new key id); empty: off. Checked at synth.
    topic_arn: str = ""
    # The topic's customer managed KMS key, if it has one (the stack's grant; no function reads it).
    topic_key_arn: str = ""

    def environment(self) -> dict[str, str]:
        """The environment variables that load_rotation_settings reads back (the key ARN is not one)."""
        values = {ENV_ACCESS_KEY_ROTATION_DAYS: str(self.days)}
        if self.topic_arn:
            values[ENV_ACCESS_KEY_ROTATION_TOPIC_ARN] = self.topic_arn
        return values


def rotation_settings_from(values: Mapping[str, object], names: Mapping[str, str]) -> RotationSettings:
    """Validate settings given by field name; InvalidSettings names the bad one's context key (`names`)."""
    try:
        return RotationSettings.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(f"{_setting_name(e['loc'], names)}: {e['msg']}" for e in exc.errors())
        raise InvalidSettings(f"access key rotation settings: {problems}") from None


def load_rotation_settings(environ: Mapping[str, str] | None = None) -> RotationSettings:
    """Read the rotation's settings from the environment the stack set."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {"days": env.get(ENV_ACCESS_KEY_ROTATION_DAYS, "").strip()}
    topic = env.get(ENV_ACCESS_KEY_ROTATION_TOPIC_ARN, "").strip()
    if topic:
        values["topic_arn"] = topic
    return rotation_settings_from(values, {"days": ENV_ACCESS_KEY_ROTATION_DAYS})
