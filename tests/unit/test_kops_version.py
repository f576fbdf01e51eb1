"""kOps version detection and the supported-version rule."""

import base64
import gzip

import pytest

from kops_lambda.errors import UnsupportedKopsVersion
from kops_lambda.logic.kops_version import ensure_supported, parse_version_text, version_from_user_data

USER_DATA = """#!/bin/bash
set -o errexit
NODEUP_URL_AMD64=https://artifacts.k8s.io/binaries/kops/1.18.3/linux/amd64/nodeup,https://github.com/kubernetes/kops/releases/download/v1.18.3/nodeup-linux-amd64
NODEUP_HASH_AMD64=5a9a8b5b2e0d
"""


@pytest.mark.parametrize("version", ["1.11.1", "1.15.0", "1.17.2", "1.18.3", "1.20.0", "1.21.4", "1.22.0-beta.1"])
def test_supported_versions_pass(version: str) -> None:
    assert ensure_supported(version) == version


@pytest.mark.parametrize("version", ["1.16.4", "1.19.0", "1.23.0", "1.10.0", "2.0.0"])
def test_unsupported_versions_name_the_supported_list(version: str) -> None:
    with pytest.raises(UnsupportedKopsVersion) as raised:
        ensure_supported(version)
    assert version in str(raised.value) and "1.11, 1.15, 1.17, 1.18, 1.20, 1.21, 1.22" in str(raised.value)


def test_version_text_from_state_store() -> None:
    assert parse_version_text("1.21.4\n") == "1.21.4"
    assert parse_version_text("v1.22.0") == "1.22.0"
    assert parse_version_text("<html>not a version</html>") is None


def test_version_from_plain_and_gzipped_user_data() -> None:
    plain = base64.b64encode(USER_DATA.encode()).decode()
    zipped = base64.b64encode(gzip.compress(USER_DATA.encode())).decode()
    assert version_from_user_data(plain) == "1.18.3"
    assert version_from_user_data(zipped) == "1.18.3"


def test_user_data_without_nodeup_or_not_base64_gives_none() -> None:
    assert version_from_user_data(base64.b64encode(b"#!/bin/bash\necho hi").decode()) is None
    assert version_from_user_data("%%%") is None
