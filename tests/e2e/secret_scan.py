"""The e2e secret scan: no secret value created during the runs appears anywhere we can see.

Haystack: every execution history of every state machine, every log line the handlers wrote, every
execution's input/output/error/cause, and everything the CLI printed. Needles: every secret value stored
under kops-onboard/ (access key secrets, private keys, the tokens of the kubeconfigs we were given and of
the vendor's ServiceAccount kubeconfig, the Spot drainer's ServiceAccount token, the agent API key), the
data of the Kubernetes Secrets we wrote (the agent's, our ServiceAccount token Secrets in kube-system), and
the secret key and session token of every STS session issued (each Lambda container runs with its execution
role's session). Any aws-iam-authenticator token (`k8s-aws-v1.<presigned URL>`) is a leak too, whoever
minted it: its URL holds a signature and, for a role, the session token. The `local_system` fixture runs it
when it tears down, so it covers every e2e test that used that system, whichever worker ran it.
"""

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml
from moto.sts.models import sts_backends

from kops_lambda.constants import (
    DRAINER_SECRET_KIND,
    KUBE_SYSTEM,
    MANAGED_BY_LABEL,
    PRODUCT,
    VENDOR_KUBECONFIG_SECRET_KIND,
)
from kops_local.system import LocalSystem

MIN_NEEDLE = 12  # shorter strings (ids, "true") are not secrets and would match by chance
AUTHENTICATOR_TOKEN = re.compile(r"k8s-aws-v1\.[A-Za-z0-9_-]{20,}")

# Everything the CLI printed during the e2e runs of this process.
CLI_OUTPUTS: list[str] = []


def secret_parts(name: str, value: str) -> list[str]:
    """The secret parts of a stored value, by what the secret holds."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if name.endswith(("/kubeconfig", f"/{VENDOR_KUBECONFIG_SECRET_KIND}")):
        kubeconfig = parsed if isinstance(parsed, dict) else yaml.safe_load(value)
        users = [u.get("user") or {} for u in kubeconfig.get("users", [])]
        return [part for user in users for part in _user_secrets(user)]
    if name.endswith(f"/{DRAINER_SECRET_KIND}"):
        # The server, CA and mode are public; service-account mode stores the drainer's token.
        return [parsed["token"]] if isinstance(parsed, dict) and parsed.get("token") else []
    if isinstance(parsed, dict) and "SecretAccessKey" in parsed:
        return [parsed["SecretAccessKey"]]
    if isinstance(parsed, dict) and "PrivateKey" in parsed:
        return [line for line in parsed["PrivateKey"].splitlines() if "PRIVATE KEY" not in line]
    return [value]  # anything else (the agent API key) is secret as a whole


def _user_secrets(user: dict[str, Any]) -> list[str]:
    """A kubeconfig user's credentials, those of refused exec/auth-provider entries included."""
    parts = [str(user[k]) for k in ("token", "password", "client-key-data") if user.get(k)]
    exec_env = (user.get("exec") or {}).get("env") or []
    parts += [str(variable["value"]) for variable in exec_env if variable.get("value")]
    provider = (user.get("auth-provider") or {}).get("config") or {}
    parts += [
        str(provider[k]) for k in ("access-token", "id-token", "refresh-token", "client-secret") if provider.get(k)
    ]
    return parts


def secret_values(system: LocalSystem) -> set[str]:
    sm = system.aws.client("secretsmanager")
    needles: set[str] = set()
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            try:
                versions = sm.list_secret_version_ids(SecretId=secret["ARN"])["Versions"]
                # Every version: a renewed drainer token's predecessor stays valid until it expires.
                values = [
                    sm.get_secret_value(SecretId=secret["ARN"], VersionId=v["VersionId"])["SecretString"]
                    for v in versions
                ]
            except sm.exceptions.InvalidRequestException:
                continue  # scheduled for deletion: no longer readable
            for value in values:
                needles.update(secret_parts(secret["Name"], value))
    needles.update(session_secrets())
    for cluster in system.clusters.values():
        needles.add(cluster.token)
        store = cluster.api_server.store
        ours = [s for s in store.list("secrets", KUBE_SYSTEM) if _labelled_ours(s)]
        for kube_secret in [*store.list("secrets", "castai-agent"), *ours]:
            # A token Secret's ca.crt and namespace are public; its token is what must not leak.
            values = {k: v for k, v in (kube_secret.get("data") or {}).items() if k not in ("ca.crt", "namespace")}
            for encoded in values.values():
                needles.add(base64.b64decode(encoded).decode(errors="replace"))
    return {n for n in needles if len(n) >= MIN_NEEDLE}


def _labelled_ours(obj: dict[str, Any]) -> bool:
    return (obj.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL) == PRODUCT


def session_secrets() -> set[str]:
    """Secret key and session token of every assumed-role session moto issued (Lambda containers' included)."""
    found: set[str] = set()
    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            for session in list(backend.assumed_roles):
                found.update((session.secret_access_key, session.session_token))
    return found


def haystack(system: LocalSystem) -> list[str]:
    sfn = system.aws.client("stepfunctions")
    texts = [*system.aws.captured_logs, *CLI_OUTPUTS]
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for execution in page["executions"]:
                arn = execution["executionArn"]
                texts.append(json.dumps(sfn.describe_execution(executionArn=arn), default=str))
                history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                texts.append(json.dumps(history, default=str))
    return texts


def leaks(needles: Iterable[str], texts: list[str]) -> list[tuple[str, int]]:
    """(the needle's first characters, the haystack index) of every secret found, and of every authenticator
    token; never the whole secret."""
    found = [(needle[:6] + "…", i) for needle in needles for i, text in enumerate(texts) if needle in text]
    return found + [("k8s-aws-v1.…", i) for i, text in enumerate(texts) if AUTHENTICATOR_TOKEN.search(text)]


def assert_no_secret_leaks(system: LocalSystem) -> None:
    found = leaks(secret_values(system), haystack(system))
    assert found == [], f"secret values found in execution histories, logs or CLI output: {found}"
