"""Presigned STS GetCallerIdentity as AWS answers it, which aws-iam-authenticator's tokens rely on.

A token is a presigned `GET https://sts.<region>.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Credential=...`
whose signature covers the `x-k8s-aws-id` header (the cluster id); the authenticator sends it with that header
set to its own cluster id and `Accept: application/json`, and reads the caller from the JSON answer. A token
for another cluster is refused only because STS finds the signature wrong. moto's server misses all of that:
it routes an unsigned GET (no Authorization header, no body) to S3, takes the caller from the Authorization
header only (so every presigned call is its default `user/moto`), checks no signature, and answers JSON only
to a `ContentType=JSON` query parameter. These patches make it route by the credential scope in the query,
verify the SigV4 query signature of a presigned GetCallerIdentity with the secret of its access key (an IAM
user's key or an assumed-role session's; SignatureDoesNotMatch / InvalidClientTokenId otherwise, as STS
answers), take the caller from `X-Amz-Credential`, and honour `Accept: application/json`. Other requests
are untouched (moto checks no signature of theirs).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from moto.core.responses import ActionResult, BaseResponse
from moto.iam.models import get_account_id_from, iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse
from moto.utilities.utils import get_partition

from kops_local.aws.patching import AttributePatch

_CREDENTIAL = "X-Amz-Credential"
_SIGNATURE = "X-Amz-Signature"
# Botocore signs the empty body's hash into a presigned URL; other SDKs sign UNSIGNED-PAYLOAD. STS takes both.
_PAYLOAD_HASHES = (hashlib.sha256(b"").hexdigest(), "UNSIGNED-PAYLOAD")


def _query_credential(query: dict[str, list[str]]) -> str | None:
    values = query.get(_CREDENTIAL)
    return values[0] if values else None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _secret_of(access_key_id: str, region: str) -> str:
    account_id = get_account_id_from(access_key_id)
    key = iam_backends[account_id][get_partition(region)].access_keys.get(access_key_id)
    if key is None:
        raise STSClientError("InvalidClientTokenId", "The security token included in the request is invalid.")
    secret: str = key.secret_access_key
    return secret


def verify_presigned_signature(
    *, method: str, path: str, raw_query: str, headers: Any, query: dict[str, list[str]]
) -> None:
    """SigV4 query-string authentication as STS checks it (canonical request over the signed headers as
    received); raises STSClientError when the signature is not the one the key's secret gives."""
    credential = _query_credential(query) or ""
    try:
        access_key_id, date, region, service, terminator = credential.split("/")
        timestamp = query["X-Amz-Date"][0]
        signed = query["X-Amz-SignedHeaders"][0]
        given = query[_SIGNATURE][0]
    except (KeyError, ValueError):
        raise STSClientError("IncompleteSignature", "The presigned URL lacks SigV4 parameters.") from None
    pairs = sorted(
        (key, value)
        for key, _, value in (pair.partition("=") for pair in raw_query.split("&") if pair)
        if key != _SIGNATURE
    )
    canonical_query = "&".join(f"{key}={value}" for key, value in pairs)
    names = signed.split(";")
    canonical_headers = "".join(f"{name}:{' '.join(str(headers.get(name, '')).split())}\n" for name in names)
    key = _hmac(f"AWS4{_secret_of(access_key_id, region)}".encode(), date)
    for part in (region, service, terminator):
        key = _hmac(key, part)
    for payload_hash in _PAYLOAD_HASHES:
        canonical = "\n".join([method, path or "/", canonical_query, canonical_headers, signed, payload_hash])
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        string_to_sign = "\n".join(["AWS4-HMAC-SHA256", timestamp, f"{date}/{region}/{service}/{terminator}", digest])
        if hmac.compare_digest(hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), given):
            return
    raise STSClientError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )


def sts_presigned_patches() -> list[AttributePatch]:
    infer = DomainDispatcherApplication.infer_service_region_host
    access_key = BaseResponse.get_access_key
    protocol = BaseResponse.determine_response_protocol
    caller_identity = TokenResponse.get_caller_identity

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

    def get_caller_identity(self: TokenResponse) -> ActionResult:
        if _query_credential(self.querystring) and "Authorization" not in self.headers:
            verify_presigned_signature(
                method=self.method,
                path=self.parsed_url.path,
                raw_query=self.parsed_url.query,
                headers=self.headers,
                query=self.querystring,
            )
        return caller_identity(self)

    def determine_response_protocol(self: TokenResponse, service_model: Any) -> str:
        answered = protocol(self, service_model)
        if answered == "query" and "application/json" in self.headers.get("Accept", ""):
            return "query-json"
        return answered

    return [
        AttributePatch(DomainDispatcherApplication, "infer_service_region_host", infer_service_region_host),
        AttributePatch(TokenResponse, "get_access_key", get_access_key),
        AttributePatch(TokenResponse, "get_caller_identity", get_caller_identity),
        AttributePatch(TokenResponse, "determine_response_protocol", determine_response_protocol),
    ]
