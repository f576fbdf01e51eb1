"""The e2e secret scan: no secret value created during the runs appears anywhere we can see.

Haystack: every execution history of every state machine, every log line the handlers wrote, every
execution's input/output/error/cause, and everything the CLI printed. Needles: every secret value stored
under kops-onboard/ (access key secrets, private keys, the tokens of the kubeconfigs we were given and of
the vendor's ServiceAccount kubeconfig, the Spot drainer's ServiceAccount token, the agent API key) and the
data of the Kubernetes Secrets we wrote (the agent's, our ServiceAccount token Secrets in kube-system). The
`local_system` fixture runs it when it tears down, so it covers every e2e test that used that system,
whichever worker ran it.
"""

import base64
import json
from collections.abc import Iterable
from typing import Any

import yaml

from kops_lambda.constants import (
    DRAINER_SECRET_KIND,
    KUBE_SYSTEM,
    MANAGED_BY_LABEL,
    PRODUCT,
    VENDOR_KUBECONFIG_SECRET_KIND,
)
from kops_onboard.local.system import LocalSystem

MIN_NEEDLE = 12  # shorter strings (ids, "true") are not secrets and would match by chance

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
        users = [u.get("user", {}) for u in kubeconfig.get("users", [])]
        return [str(u[k]) for u in users for k in ("token", "password", "client-key-data") if u.get(k)]
    if name.endswith(f"/{DRAINER_SECRET_KIND}"):
        # The server, CA and mode are public; service-account mode stores the drainer's token.
        return [parsed["token"]] if isinstance(parsed, dict) and parsed.get("token") else []
    if isinstance(parsed, dict) and "SecretAccessKey" in parsed:
        return [parsed["SecretAccessKey"]]
    if isinstance(parsed, dict) and "PrivateKey" in parsed:
        return [line for line in parsed["PrivateKey"].splitlines() if "PRIVATE KEY" not in line]
    return [value]  # anything else (the agent API key) is secret as a whole


def secret_values(system: LocalSystem) -> set[str]:
    sm = system.aws.client("secretsmanager")
    needles: set[str] = set()
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            try:
                value = sm.get_secret_value(SecretId=secret["ARN"])["SecretString"]
            except sm.exceptions.InvalidRequestException:
                continue  # scheduled for deletion: no longer readable
            needles.update(secret_parts(secret["Name"], value))
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
    """(the needle's first characters, the haystack index) of every secret found; never the whole secret."""
    return [(needle[:6] + "…", i) for needle in needles for i, text in enumerate(texts) if needle in text]


def assert_no_secret_leaks(system: LocalSystem) -> None:
    found = leaks(secret_values(system), haystack(system))
    assert found == [], f"secret values found in execution histories, logs or CLI output: {found}"
