"""The kOps Cluster spec from the state store (`<KOPS_STATE_STORE>/<cluster>/config`), when given.

Only used to explain what to change when the cluster runs no authenticator: the cluster's own objects
(the authenticator DaemonSet and its flags) decide which backend we write to, since they are what runs.
"""

from dataclasses import dataclass
from typing import Any

import yaml
from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors

_MISSING = frozenset({"NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"})


@dataclass(frozen=True)
class AuthenticationSpec:
    """spec.authentication.aws of the kOps Cluster (None: the spec could not be read)."""

    aws_enabled: bool
    backend_modes: tuple[str, ...]  # spec.authentication.aws.backendMode split on commas (kOps 1.19+)


def read_kops_spec(s3: Any, state_store: str | None, cluster_name: str) -> dict[str, Any] | None:
    """The Cluster document, or None without a state store, when absent/unreadable or not YAML."""
    if not state_store:
        return None
    bucket, _, prefix = state_store.removeprefix("s3://").partition("/")
    key = "/".join(part for part in (prefix.strip("/"), cluster_name, "config") if part)
    try:
        with translated_aws_errors("read kOps cluster spec"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in _MISSING:
            return None
        raise
    try:
        document = yaml.safe_load(body)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, dict) else None


def authentication_spec(document: dict[str, Any] | None) -> AuthenticationSpec | None:
    if document is None:
        return None
    spec = document.get("spec")
    authentication = spec.get("authentication") if isinstance(spec, dict) else None
    aws = authentication.get("aws") if isinstance(authentication, dict) else None
    if not isinstance(aws, dict):
        return AuthenticationSpec(aws_enabled=aws is not None, backend_modes=())
    modes = str(aws.get("backendMode") or "")
    return AuthenticationSpec(aws_enabled=True, backend_modes=tuple(m.strip() for m in modes.split(",") if m.strip()))
