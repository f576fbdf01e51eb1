"""Hook the local Lambda runtime into moto's Lambda model (stock moto starts a Docker container here)."""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.awslambda.models import LambdaFunction

from kops_local.aws.lambda_runtime import LocalLambdaRuntime
from kops_local.aws.patching import AttributePatch

# Lambda returns the last 4 KB of the log in `x-amz-log-result` when LogType=Tail.
_LOG_TAIL_BYTES = 4096


def _decode_event(body: Any) -> Any:
    if body is None or body in ("", b""):
        return {}
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)  # werkzeug's headers are case-insensitive, plain dicts from moto are not
    if value is None and hasattr(headers, "items"):
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def lambda_patches(runtime: LocalLambdaRuntime) -> list[AttributePatch]:
    """Patches for `LambdaFunction._invoke_lambda` (the Docker call) and `LambdaFunction.invoke`."""

    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        result = runtime.invoke(self, _decode_event(event))
        return result.payload, result.errored, result.logs

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
        # Replaced as a whole because moto runs Event invocations synchronously and marks errors "Handled",
        # where Lambda queues Event invocations and reports a raised exception as "Unhandled".
        invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
        if invocation_type == "DryRun":
            return ""
        if invocation_type == "Event":
            runtime.invoke_async(self, _decode_event(body))
            return ""
        payload, errored, logs = self._invoke_lambda(event=body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        tail = logs.encode("utf-8")[-_LOG_TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
        return payload.encode("utf-8")

    return [
        AttributePatch(LambdaFunction, "_invoke_lambda", _invoke_lambda),
        AttributePatch(LambdaFunction, "invoke", invoke),
    ]
