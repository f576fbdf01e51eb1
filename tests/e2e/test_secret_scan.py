"""Runs last in the e2e package: no secret value created during the runs appears anywhere we can see.

Haystack: every execution history of every state machine, every log line the handlers wrote, and every
execution's input/output/error/cause. Needles: every secret value stored under kops-onboard/ (access key
secrets, private keys, kubeconfig tokens, the agent API key) and the Kubernetes Secret data we wrote.
"""

import base64
import json

import yaml

from kops_onboard.local.system import LocalSystem
from tests.e2e.conftest import CLI_OUTPUTS

MIN_NEEDLE = 12  # shorter strings (ids, "true") are not secrets and would match by chance


def _secret_parts(name: str, value: str) -> list[str]:
    """The secret parts of a stored value, by what the secret holds."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if name.endswith("/kubeconfig"):
        kubeconfig = parsed if isinstance(parsed, dict) else yaml.safe_load(value)
        users = [u.get("user", {}) for u in kubeconfig.get("users", [])]
        return [str(u[k]) for u in users for k in ("token", "password", "client-key-data") if u.get(k)]
    if isinstance(parsed, dict) and "SecretAccessKey" in parsed:
        return [parsed["SecretAccessKey"]]
    if isinstance(parsed, dict) and "PrivateKey" in parsed:
        return [line for line in parsed["PrivateKey"].splitlines() if "PRIVATE KEY" not in line]
    return [value]  # anything else (the agent API key) is secret as a whole


def _secret_values(system: LocalSystem) -> set[str]:
    sm = system.aws.client("secretsmanager")
    needles: set[str] = set()
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            try:
                value = sm.get_secret_value(SecretId=secret["ARN"])["SecretString"]
            except sm.exceptions.InvalidRequestException:
                continue  # scheduled for deletion: no longer readable
            needles.update(_secret_parts(secret["Name"], value))
    for cluster in system.clusters.values():
        needles.add(cluster.token)
        for secret in cluster.emulator.store.list("secrets", "castai-agent"):
            for encoded in (secret.get("data") or {}).values():
                needles.add(base64.b64decode(encoded).decode(errors="replace"))
    return {n for n in needles if len(n) >= MIN_NEEDLE}


def _haystack(system: LocalSystem) -> list[str]:
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


def test_no_secret_value_in_any_history_or_log_line(local_system: LocalSystem) -> None:
    # Given everything the e2e runs of this package produced
    needles = _secret_values(local_system)
    haystack = _haystack(local_system)
    # (the scan has something to find: onboardings stored access keys, private keys and tokens)
    assert any(len(n) == 40 for n in needles), "no access key secret was created: nothing was scanned"
    assert len(haystack) > 50
    # Then none of the secret values appears anywhere
    leaks = [(needle[:6] + "…", i) for needle in needles for i, text in enumerate(haystack) if needle in text]
    assert leaks == []


def test_the_scan_would_find_a_leak(local_system: LocalSystem) -> None:
    # A value known to be stored is found when planted in a haystack line: the check can fail.
    needles = _secret_values(local_system)
    planted = next(iter(needles))
    assert any(planted in text for text in [*_haystack(local_system)[:1], f"log line with {planted}"])
