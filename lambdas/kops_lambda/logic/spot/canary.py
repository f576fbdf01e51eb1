"""The Spot canary: before an interruption does, find out that the Spot handler could not drain a cluster.

For every cluster the registry says is onboarded, the canary reads the cluster's drainer credential and builds
its client with the Spot handler's own functions (`read_drainer_credential`, `drainer_api_client`; in
authenticator mode it runs as the handler's role, so the token it mints maps exactly as the handler's does),
then asks the API server with SelfSubjectAccessReview whether that identity may still do every verb of the
`kops-onboard:spot-drainer` ClusterRole (`spot_drainer_rules`: what `logic/spot/drain.py` and the cordon use).

In service-account mode it also renews the token once less than half of its lifetime is left: a TokenRequest
made with the drainer's own token (its Role allows exactly that), stored with PutSecretValue as the secret's
new version; the old token stays valid until it expires, so a Spot handler holding it is not disturbed.

A cluster's result is one of `CanaryReason`; the detail says what exactly (which permission, which status),
never a token. One cluster's failure, of any kind, never stops the others.
"""

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import urllib3
from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code
from kops_lambda.adapters.kube import KubeApiError, KubeClient, send
from kops_lambda.errors import ClusterAccessError, KopsOnboardError
from kops_lambda.logic import registry
from kops_lambda.logic.cluster.drainer import DRAINER_TOKEN_SECONDS, renew_drainer_credential
from kops_lambda.logic.cluster.drainer_client import TokenStsClient, drainer_api_client, read_drainer_credential
from kops_lambda.logic.cluster.rbac import spot_drainer_rules
from kops_lambda.logic.spot.service import drainer_secret_of
from kops_lambda.models.drainer import DrainerCredential
from kops_lambda.models.registry import ClusterRecord

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
# Connects retried once: an unreachable server should cost seconds, not the whole run.
CANARY_RETRIES = urllib3.Retry(total=1, connect=1, read=0, status=0, backoff_factor=0.1)
# Clusters checked at once: each check is a handful of short requests, mostly waiting on the network.
CLUSTER_CONCURRENCY = 8


class CanaryReason(StrEnum):
    OK = "ok"
    NO_CREDENTIAL = "no-credential"  # no drainer credential recorded, or it cannot be read or used
    EXPIRED = "expired"  # the stored token's expiry has passed
    UNAUTHORIZED = "unauthorized"  # 401: token revoked, ServiceAccount deleted, role's mapping removed
    FORBIDDEN = "forbidden"  # 403, or a permission of the drain that SelfSubjectAccessReview denies
    UNREACHABLE = "unreachable"  # no answer, or 429/5xx
    RENEWAL_FAILED = "renewal-failed"  # the checks passed, but the token could not be renewed
    ERROR = "error"  # anything else (named by its type)


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    subresource: str = ""
    group: str = ""

    @property
    def label(self) -> str:
        return f"{self.verb} {self.resource}{'/' + self.subresource if self.subresource else ''}"


def drain_permissions(*, force_delete: bool) -> list[Permission]:
    """Every verb of the drainer's ClusterRole, read from the rules onboarding writes (never a second list)."""
    permissions = []
    for rule in spot_drainer_rules(force_delete=force_delete):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                name, _, subresource = resource.partition("/")
                permissions += [Permission(verb, name, subresource, group) for verb in rule["verbs"]]
    return permissions


@dataclass(frozen=True)
class CanaryResult:
    cluster_name: str
    region: str
    reason: CanaryReason
    detail: str
    checked_at: str
    duration_ms: int = 0
    mode: str | None = None
    token_expires_at: str | None = None
    renewed: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is CanaryReason.OK

    def record(self) -> dict[str, Any]:
        """What the registry keeps as the cluster's last canary result (and the log line carries)."""
        return {
            "checked_at": self.checked_at,
            "ok": self.ok,
            "reason": self.reason.value,
            "detail": self.detail,
            "duration_ms": self.duration_ms,
            "mode": self.mode,
            "token_expires_at": self.token_expires_at,
            "renewed": self.renewed,
        }


class _Failed(Exception):
    def __init__(self, reason: CanaryReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CanaryDependencies:
    registry_table: Any
    secretsmanager: Any
    # Region -> what presigns the authenticator token for a cluster there, as the Spot handler does; the
    # caller's credentials are the Spot handler's role.
    token_sts_for: Callable[[str], TokenStsClient]
    force_delete: bool = False


def run_canary(deps: CanaryDependencies) -> list[CanaryResult]:
    """Check every onboarded cluster (concurrently) and record each result in its registry item."""
    clusters = registry.onboarded_clusters(deps.registry_table)
    with ThreadPoolExecutor(max_workers=CLUSTER_CONCURRENCY, thread_name_prefix="canary") as pool:
        return list(pool.map(lambda item: _check_and_record(item, deps), clusters))


def _check_and_record(item: ClusterRecord, deps: CanaryDependencies) -> CanaryResult:
    result = check_cluster(item, deps)
    try:
        registry.record_canary_result(
            deps.registry_table, region=result.region, cluster_name=result.cluster_name, result=result.record()
        )
    except Exception as exc:  # the result is still logged and counted; the next run records again
        return replace(result, detail=f"{result.detail}; not recorded in the registry ({type(exc).__name__})")
    return result


def _now() -> datetime:
    return datetime.now(UTC)


def check_cluster(item: ClusterRecord, deps: CanaryDependencies) -> CanaryResult:
    """One cluster: credential → client → SelfSubjectAccessReviews → renewal if due. Never raises."""
    started = time.monotonic()
    result = CanaryResult(
        cluster_name=item.cluster_name,
        region=item.region,
        reason=CanaryReason.OK,
        detail="",
        checked_at=_now().isoformat(timespec="seconds"),
    )
    try:
        credential = _credential(item, result.cluster_name, deps.secretsmanager)
        # Set before the checks: a failed result names the mode and expiry of what failed.
        result = replace(result, mode=credential.mode, token_expires_at=_iso(credential.expires_at))
        result = _check(result, item, credential, deps)
    except _Failed as failed:
        result = replace(result, reason=failed.reason, detail=failed.detail)
    except Exception as exc:
        # Our errors' messages are written to be logged; anything else is named by its type only.
        detail = str(exc) if isinstance(exc, KopsOnboardError) else ""
        result = replace(result, reason=CanaryReason.ERROR, detail=f"{type(exc).__name__}: {detail}".rstrip(": "))
    return replace(result, duration_ms=round((time.monotonic() - started) * 1000))


def _check(
    result: CanaryResult, item: ClusterRecord, credential: DrainerCredential, deps: CanaryDependencies
) -> CanaryResult:
    permissions = drain_permissions(force_delete=deps.force_delete)
    token_sts = deps.token_sts_for(result.region)
    _verify(credential, token_sts, permissions, now=_now())
    if credential.mode != "service-account" or not _renewal_due(credential, now=_now()):
        return replace(result, detail=f"may {', '.join(p.label for p in permissions)}")
    try:
        renewed = renew_drainer_credential(deps.secretsmanager, credential, retries=CANARY_RETRIES)
        _verify(renewed, token_sts, permissions, now=_now())
    except _Failed as failed:
        raise _Failed(CanaryReason.RENEWAL_FAILED, f"token renewal: {failed.reason.value}: {failed.detail}") from None
    except (ClientError, KopsOnboardError) as exc:
        detail = error_code(exc) if isinstance(exc, ClientError) else str(exc)
        raise _Failed(CanaryReason.RENEWAL_FAILED, f"token renewal: {type(exc).__name__}: {detail}") from None
    return replace(
        result,
        token_expires_at=_iso(renewed.expires_at),
        renewed=True,
        detail=f"may {', '.join(p.label for p in permissions)}; token renewed",
    )


def _credential(item: ClusterRecord, cluster_name: str, secretsmanager: Any) -> DrainerCredential:
    """The credential the Spot handler would use: found and read by its own functions."""
    try:
        credential = read_drainer_credential(secretsmanager, drainer_secret_of(item, cluster_name))
    except ClusterAccessError as exc:
        raise _Failed(CanaryReason.NO_CREDENTIAL, str(exc)) from None
    # Renewal writes to the secret the credential names: it must be this cluster's.
    if credential.cluster_id != cluster_name:
        raise _Failed(CanaryReason.NO_CREDENTIAL, f"the drainer credential names cluster {credential.cluster_id}")
    return credential


def _verify(
    credential: DrainerCredential, token_sts: TokenStsClient, permissions: Iterable[Permission], *, now: datetime
) -> None:
    if credential.expires_at is not None and credential.expires_at <= now:
        raise _Failed(CanaryReason.EXPIRED, f"the drainer token expired at {_iso(credential.expires_at)}")
    try:
        api = drainer_api_client(credential, token_sts, retries=CANARY_RETRIES, now=now)
    except ClusterAccessError as exc:
        raise _Failed(CanaryReason.NO_CREDENTIAL, str(exc)) from None
    with api:
        denied = [p.label for p in permissions if not _allowed(api, p)]
    if denied:
        raise _Failed(CanaryReason.FORBIDDEN, f"403: the drainer may not {', '.join(denied)}")


def _allowed(api: KubeClient, permission: Permission) -> bool:
    """SelfSubjectAccessReview, cluster-wide (no namespace): the drain acts in every namespace."""
    attributes = {"verb": permission.verb, "resource": permission.resource, "group": permission.group}
    if permission.subresource:
        attributes["subresource"] = permission.subresource
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    try:
        data = send(api, "POST", SSAR_PATH, body=body)
    except KubeApiError as exc:
        if exc.status == 401:
            raise _Failed(
                CanaryReason.UNAUTHORIZED, "401: the API server does not accept the drainer credential"
            ) from None
        if exc.status == 403:
            raise _Failed(CanaryReason.FORBIDDEN, "403: the drainer may not create selfsubjectaccessreviews") from None
        if exc.status == 429 or (exc.status or 0) >= 500:
            raise _Failed(CanaryReason.UNREACHABLE, f"the API server answered {exc.status}") from None
        raise _Failed(CanaryReason.ERROR, f"SelfSubjectAccessReview: {exc.reason} ({exc.status})") from None
    except urllib3.exceptions.HTTPError as exc:
        raise _Failed(CanaryReason.UNREACHABLE, f"the API server is unreachable ({type(exc).__name__})") from None
    try:
        status = json.loads(data).get("status") or {}
    except (ValueError, AttributeError):
        raise _Failed(CanaryReason.UNREACHABLE, "the answer to SelfSubjectAccessReview is not JSON") from None
    return status.get("allowed") is True


def _renewal_due(credential: DrainerCredential, *, now: datetime) -> bool:
    """Less than half of the lifetime the drainer's tokens are issued for is left. A server that caps token
    lifetimes below that gets a renewal every run, which costs one TokenRequest and keeps the token fresh."""
    if credential.expires_at is None or not credential.token:
        return False
    return credential.expires_at - now < timedelta(seconds=DRAINER_TOKEN_SECONDS / 2)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None
