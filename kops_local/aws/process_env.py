"""The environment a local Lambda container starts from: this process's, without what would send the
handler's SDK calls elsewhere or mix in real credentials."""

from __future__ import annotations

from collections.abc import Mapping

_HOST_KEYS_TO_HIDE = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_HOST_PREFIXES_TO_HIDE = ("AWS_ENDPOINT_URL_",)


def host_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in environ.items()
        if key not in _HOST_KEYS_TO_HIDE and not key.startswith(_HOST_PREFIXES_TO_HIDE)
    }
