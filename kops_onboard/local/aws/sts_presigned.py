"""Presigned STS GetCallerIdentity as AWS answers it, which aws-iam-authenticator's tokens rely on.

A token is a presigned `GET https://sts.<region>.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Credential=...`;
the authenticator sends it with `Accept: application/json` and reads the caller from the JSON answer. moto's
server misses all three parts of that: it routes an unsigned GET (no Authorization header, no body) to S3,
takes the caller from the Authorization header only (so every presigned call is its default `user/moto`),
and answers JSON only to a `ContentType=JSON` query parameter. These patches make it route by the credential
scope in the query, take the caller from `X-Amz-Credential`, and honour `Accept: application/json` — so a
token names exactly the identity whose access key presigned it (an IAM user, or an assumed-role session).
moto still checks no signatures, as for every other request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sts.responses import TokenResponse

from kops_onboard.local.aws.patching import AttributePatch

_CREDENTIAL = "X-Amz-Credential"


def _query_credential(query: dict[str, list[str]]) -> str | None:
    values = query.get(_CREDENTIAL)
    return values[0] if values else None


def sts_presigned_patches() -> list[AttributePatch]:
    infer = DomainDispatcherApplication.infer_service_region_host
    access_key = BaseResponse.get_access_key
    protocol = BaseResponse.determine_response_protocol

    def infer_service_region_host(self: DomainDispatcherApplication, environ: dict[str, Any], path: str) -> Any:
        credential = _query_credential(parse_qs(environ.get("QUERY_STRING", "")))
        if credential and not environ.get("HTTP_AUTHORIZATION"):
            # The scope is `<key>/<date>/<region>/<service>/aws4_request`, as in a signed request's header.
            environ = {**environ, "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={credential}, Signature=-"}
        return infer(self, environ, path)

    def get_access_key(self: TokenResponse) -> str:
        credential = _query_credential(self.querystring)
        if credential and "Authorization" not in self.headers:
            return credential.split("/", 1)[0]
        return access_key(self)

    def determine_response_protocol(self: TokenResponse, service_model: Any) -> str:
        answered = protocol(self, service_model)
        if answered == "query" and "application/json" in self.headers.get("Accept", ""):
            return "query-json"
        return answered

    return [
        AttributePatch(DomainDispatcherApplication, "infer_service_region_host", infer_service_region_host),
        AttributePatch(TokenResponse, "get_access_key", get_access_key),
        AttributePatch(TokenResponse, "determine_response_protocol", determine_response_protocol),
    ]
