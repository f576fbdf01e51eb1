"""Find a cluster's kOps version: the state store first, then the launch user data."""

import base64
import binascii
import gzip
import re

from kops_lambda.constants import SUPPORTED_KOPS_VERSIONS
from kops_lambda.errors import UnsupportedKopsVersion
from kops_lambda.models.onboarding import kops_minor

# nodeup is downloaded from a URL carrying the kOps release, e.g.
# NODEUP_URL_AMD64=https://artifacts.k8s.io/binaries/kops/1.21.4/linux/amd64/nodeup
_NODEUP_VERSION = re.compile(r"NODEUP_URL[^\n]*?/kops/v?(\d+\.\d+(?:\.\d+)?(?:-[A-Za-z0-9.]+)?)/")
_VERSION_TEXT = re.compile(r"^v?\d+\.\d+(\.\d+)?(-[A-Za-z0-9.]+)?$")


def parse_version_text(text: str) -> str | None:
    """Content of the state store's kops-version.txt, or None when it is not a version."""
    candidate = text.strip()
    return candidate.lstrip("v") if _VERSION_TEXT.match(candidate) else None


def version_from_user_data(user_data_b64: str) -> str | None:
    """The kOps version in base64 launch user data (plain or gzip), or None."""
    try:
        raw = base64.b64decode(user_data_b64, validate=False)
    except (binascii.Error, ValueError):
        return None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError:
            return None
    match = _NODEUP_VERSION.search(raw.decode("utf-8", errors="replace"))
    return match.group(1) if match else None


def ensure_supported(version: str) -> str:
    """Return the version when its minor release is supported, else raise UnsupportedKopsVersion."""
    if kops_minor(version) not in SUPPORTED_KOPS_VERSIONS:
        supported = ", ".join(SUPPORTED_KOPS_VERSIONS)
        raise UnsupportedKopsVersion(f"kOps {version} is not supported; supported versions are {supported}")
    return version
