"""API errors and their `Status` bodies, worded like the real API server's so clients react the same way.

Errors are raised as `kmock.KubernetesError` (HTTP code, reason, message, details), kmock's own carrier
for Kubernetes failures; `status_body` renders them (kmock's renderer would add a traceback to details).
"""

from __future__ import annotations

from typing import Any

from kmock import KubernetesError

from kops_local.kube.catalog import ResourceType

ApiError = KubernetesError

# Reasons the real API server uses for these codes (metav1.StatusReason).
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def api_error(code: int, message: str, *, reason: str | None = None, details: dict[str, Any] | None = None) -> ApiError:
    """`reason=None` picks the usual reason for the code; `reason=""` sends none (some real errors do)."""
    reason = REASONS.get(code, "") if reason is None else reason
    return KubernetesError(status=code, reason=reason, message=message, details=details)


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return api_error(404, f'{rt.group_resource} "{name}" not found', details=_details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return api_error(
        409,
        f'{rt.group_resource} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(rt, name),
    )


def conflict(rt: ResourceType, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return api_error(
        409,
        f'Operation cannot be fulfilled on {rt.group_resource} "{name}": {why}',
        details=_details(rt, name),
    )


def invalid(rt: ResourceType, name: str, field: str, problem: str) -> ApiError:
    details = _details(rt, name) | {
        "kind": rt.kind,
        "causes": [{"reason": "FieldValueRequired", "message": problem, "field": field}],
    }
    return api_error(422, f'{rt.kind} "{name}" is invalid: {field}: {problem}', details=details)


def bad_request(message: str) -> ApiError:
    return api_error(400, message)


def resource_not_found() -> ApiError:
    return api_error(404, "the server could not find the requested resource", details={})


def method_not_allowed(what: str = "the requested resource") -> ApiError:
    return api_error(405, f"the server does not allow this method on {what}", details={})


def unauthorized() -> ApiError:
    return api_error(401, "Unauthorized")


def status_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message or "",
    }
    if error.reason:
        body["reason"] = error.reason
    if error.details is not None:
        body["details"] = error.details
    body["code"] = error.status
    return body


def success_status(code: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body
