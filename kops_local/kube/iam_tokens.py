"""aws-iam-authenticator tokens for the emulator: verified against the local STS, mapped through the
cluster's own mapping ConfigMaps.

The real control plane runs the real aws-iam-authenticator as its token webhook (`controlplane/authenticator`);
the emulator, which has no RBAC, only needs to know whether a token names an identity the cluster maps. A
token is `k8s-aws-v1.` + base64url(a presigned STS GetCallerIdentity URL that signs `x-k8s-aws-id`). As the
authenticator does, it is accepted only for an STS host, that action, a signed `x-k8s-aws-id` header and the
cluster's id; the URL is then sent, as the authenticator would send it, to the local STS (the host name kept
in the Host header, `Accept: application/json`), and the caller's ARN it answers (an assumed-role session as
its role, without path) must be mapped in `kube-system/aws-auth` (`mapRoles`/`mapUsers`) or the mounted
`kube-system/aws-iam-authenticator` `config.yaml` (`server.mapRoles`/`server.mapUsers`). Simplifications: both
backends are read whatever `--backend-mode` says, and a mounted config counts without a restart.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import yaml
from yarl import URL

from kops_local.kube.store import ObjectStore

TOKEN_PREFIX = "k8s-aws-v1."
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.(amazonaws\.com|amazonaws\.com\.cn|api\.aws)$")
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")
# A verified token is accepted this long without asking STS again (aws-iam-authenticator's tokens live 15 min).
_CACHE_SECONDS = 60.0
_TIMEOUT = aiohttp.ClientTimeout(total=10)


class AuthenticatorTokens:
    def __init__(self, store: ObjectStore, *, sts_url: str, cluster_id: str) -> None:
        self._store = store
        self._sts_url = sts_url.rstrip("/")
        self._cluster_id = cluster_id
        self._verified: dict[str, tuple[str, float]] = {}

    async def mapped_arn(self, token: str) -> str | None:
        """The caller's (canonical) ARN when the token is valid for this cluster and the ARN is mapped."""
        cached = self._verified.get(token)
        arn = cached[0] if cached and cached[1] > time.monotonic() else await self._caller(token)
        if arn is None:
            return None
        self._verified[token] = (arn, time.monotonic() + _CACHE_SECONDS)
        return arn if self._mapped(arn) else None

    async def _caller(self, token: str) -> str | None:
        url = presigned_url(token)
        if url is None:
            return None
        parts = urlsplit(url)
        headers = {"Host": parts.netloc, "Accept": "application/json", "x-k8s-aws-id": self._cluster_id}
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            # encoded: the query goes out byte for byte as signed (re-quoting it would break the signature)
            session.get(
                URL(f"{self._sts_url}{parts.path or '/'}?{parts.query}", encoded=True), headers=headers
            ) as answer,
        ):
            if answer.status != 200:
                return None
            body: Any = await answer.json(content_type=None)
        arn = (body.get("GetCallerIdentityResponse", {}).get("GetCallerIdentityResult", {}) or {}).get("Arn")
        return canonical_arn(str(arn)) if arn else None

    def _mapped(self, arn: str) -> bool:
        wanted = arn.lower()
        aws_auth = (self._store.get("v1/configmaps", "kube-system", "aws-auth") or {}).get("data") or {}
        mounted = (self._store.get("v1/configmaps", "kube-system", "aws-iam-authenticator") or {}).get("data") or {}
        server = _yaml(mounted.get("config.yaml")).get("server") or {}
        entries = [
            *(_entries(_yaml_list(aws_auth.get("mapRoles")), "rolearn")),
            *(_entries(_yaml_list(aws_auth.get("mapUsers")), "userarn")),
            *(_entries(server.get("mapRoles") or [], "roleARN")),
            *(_entries(server.get("mapUsers") or [], "userARN")),
        ]
        return wanted in entries


def presigned_url(token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    encoded = token.removeprefix(TOKEN_PREFIX)
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return None
    parts = urlsplit(url)
    query = {key.lower(): values for key, values in parse_qs(parts.query).items()}
    signed = (query.get("x-amz-signedheaders") or [""])[0].lower().split(";")
    if parts.scheme != "https" or not _STS_HOST.match(parts.hostname or ""):
        return None
    if query.get("action") != ["GetCallerIdentity"] or "x-k8s-aws-id" not in signed:
        return None
    return url


def canonical_arn(arn: str) -> str:
    """An assumed-role session as its role (what the authenticator maps); anything else unchanged."""
    match = _ASSUMED_ROLE.match(arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return arn


def _yaml(text: str | None) -> dict[str, Any]:
    try:
        parsed = yaml.safe_load(text or "") or {}
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _yaml_list(text: str | None) -> list[Any]:
    try:
        parsed = yaml.safe_load(text or "") or []
    except yaml.YAMLError:
        return []
    return parsed if isinstance(parsed, list) else []


def _entries(items: list[Any], key: str) -> list[str]:
    return [str(item[key]).lower() for item in items if isinstance(item, dict) and item.get(key)]
