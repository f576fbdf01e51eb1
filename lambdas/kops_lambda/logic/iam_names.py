"""Names of what we create in the customer's account.

IAM user names allow 64 characters of [\\w+=,.@-]. `cast-kops-<cluster>` fits most kOps cluster names;
longer ones keep their first characters and end with `-` and 8 hex digits of the name's SHA-256, so the
name stays deterministic (reruns find the same user) and distinct (two long names sharing a prefix differ).
"""

import hashlib
import re

from kops_lambda.constants import IAM_USER_PREFIX

IAM_NAME_LIMIT = 64
_HASH_LENGTH = 8
_INVALID = re.compile(r"[^\w+=,.@-]")


def shorten(name: str, limit: int) -> str:
    name = _INVALID.sub("-", name)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: limit - _HASH_LENGTH - 1]}-{digest}"


def user_name(cluster_name: str) -> str:
    return shorten(f"{IAM_USER_PREFIX}{cluster_name}", IAM_NAME_LIMIT)


def key_pair_name(cluster_name: str) -> str:
    # EC2 key pair names allow 255 ASCII characters; keep them aligned with the user name.
    return user_name(cluster_name)
