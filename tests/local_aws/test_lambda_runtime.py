"""Lambda functions created in moto run their real handler in this process."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kops_local.aws import LocalAws
from tests.local_aws import sample_handlers
from tests.local_aws.conftest import tiny_zip, unique, wait_for


def _invoke(local_aws: LocalAws, function_arn: str, payload: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = local_aws.client("lambda").invoke(
        FunctionName=function_arn, Payload=json.dumps(payload).encode(), **kwargs
    )
    return dict(response), json.loads(response["Payload"].read() or b"null")


def test_handler_sees_function_environment_and_context(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a function with an environment variable, 256 MB and a 3 s timeout
    arn = make_function("echo", timeout=3, memory=256, env={"CLUSTER_TABLE": "clusters"})
    # When it is invoked
    response, body = _invoke(local_aws, arn, {"cluster": "c1"})
    # Then the handler got the event, its environment (pointing at the local endpoint) and a Lambda context
    assert "FunctionError" not in response
    assert body["event"] == {"cluster": "c1"}
    assert body["env"] == {
        "CLUSTER_TABLE": "clusters",
        "AWS_REGION": local_aws.region,
        "AWS_DEFAULT_REGION": local_aws.region,
        "AWS_ENDPOINT_URL": local_aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": body["env"]["AWS_ACCESS_KEY_ID"],
        "AWS_LAMBDA_FUNCTION_NAME": arn.split(":")[-1],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "POWERTOOLS_SERVICE_NAME": None,
    }
    context = body["context"]
    assert context["function_name"] == arn.split(":")[-1]
    assert context["invoked_function_arn"] == arn
    assert context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == 256
    assert uuid.UUID(context["aws_request_id"])
    assert context["log_group_name"] == f"/aws/lambda/{context['function_name']}"
    # and the time left honours the 3 s Timeout
    assert 2000 < context["remaining_ms"] <= 3000


def test_each_function_runs_as_a_session_of_its_execution_role(
    local_aws: LocalAws, make_function: Callable[..., str], role_arn: str
) -> None:
    # Given two functions with the same execution role
    first, second = make_function("caller"), make_function("caller")
    # When each asks STS who it is
    _, first_identity = _invoke(local_aws, first, {})
    _, second_identity = _invoke(local_aws, second, {})
    # Then each is a session of that role named after the function, as in Lambda
    role_name = role_arn.rsplit("/", 1)[-1]
    for arn, identity in ((first, first_identity), (second, second_identity)):
        function_name = arn.split(":")[-1]
        assert identity["arn"] == f"arn:aws:sts::{local_aws.account_id}:assumed-role/{role_name}/{function_name}"
        assert identity["user_id"].endswith(f":{function_name}")
    # And the credentials are temporary ones of their own, not the dummy keys of the local clients
    _, echoed = _invoke(local_aws, make_function("echo"), {})
    assert echoed["env"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")


def test_environment_is_restored_after_invocation(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a handler that sets an environment variable, in a function with its own variable
    arn = make_function("chatty", env={"ONLY_IN_FUNCTION": "x"})
    # When it runs
    _, body = _invoke(local_aws, arn, {"marker": unique("env")})
    # Then neither the function's nor the handler's variables remain in this process
    assert body.startswith("env-")
    assert "ONLY_IN_FUNCTION" not in os.environ
    assert "LEAKED_BY_HANDLER" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_prints_and_log_records_are_captured(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a handler that prints and logs a marker
    arn = make_function("chatty")
    marker = unique("marker")
    # When it is invoked with LogType=Tail
    response, _ = _invoke(local_aws, arn, {"marker": marker}, LogType="Tail")
    # Then both lines are in LocalAws.captured_logs and in the returned log tail
    lines = local_aws.captured_logs
    assert f"printed {marker}" in lines
    assert any(line.endswith(f"logged {marker}") for line in lines)
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"printed {marker}" in tail
    assert "REPORT RequestId:" in tail


def test_default_sdk_clients_in_the_handler_reach_the_local_endpoint(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a queue and a handler that builds `boto3.client("sqs")` with no endpoint or credentials
    sqs = local_aws.client("sqs")
    queue_name = unique("handler-target")
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = make_function("send_to_queue", env={"TARGET_QUEUE": queue_name})
    # When it runs
    response, message_id = _invoke(local_aws, arn, {"hello": "queue"})
    # Then the message landed in the local queue
    assert "FunctionError" not in response
    messages = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert [(m["MessageId"], json.loads(m["Body"])) for m in messages] == [(message_id, {"hello": "queue"})]


def test_exception_becomes_aws_error_shape(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a handler that raises ClusterNotFound
    arn = make_function("cluster_not_found")
    # When it is invoked
    response, body = _invoke(local_aws, arn, {"cluster": "missing"})
    # Then Lambda's error shape comes back, named after the exception class
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ClusterNotFound"
    assert body["errorMessage"] == "cluster missing does not exist"
    assert any("sample_handlers.py" in frame for frame in body["stackTrace"])


def test_handler_past_its_timeout_fails_like_lambda(local_aws: LocalAws, make_function: Callable[..., str]) -> None:
    # Given a 1 s function whose handler would sleep for an hour
    arn = make_function("sleepy", timeout=1)
    # When it is invoked
    started = time.monotonic()
    response, body = _invoke(local_aws, arn, {"seconds": 3600})
    elapsed = time.monotonic() - started
    # Then it fails with Lambda's timeout error, not the handler's result, and not before its second was up
    # (a runtime that waited for the handler would not answer for an hour: boto3's read timeout fails the test)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == "Task timed out after 1.00 seconds"
    assert elapsed >= 1.0
    # And the handler's container was stopped at the timeout, as Lambda stops the sandbox: its process is gone
    [entered] = sample_handlers.recorded(arn.split(":")[-1])
    assert entered["seconds"] == 3600
    with pytest.raises(ProcessLookupError):
        os.kill(entered["pid"], 0)


def test_event_invocation_returns_at_once_and_runs_in_background(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a recording handler
    arn = make_function("echo")
    function_name = arn.split(":")[-1]
    # When it is invoked with InvocationType=Event
    response, _ = _invoke(local_aws, arn, {"async": True}, InvocationType="Event")
    # Then Lambda accepts it (202) and the handler runs shortly after
    assert response["StatusCode"] == 202
    assert wait_for(lambda: sample_handlers.recorded(function_name)) == [{"async": True}]


def test_unimportable_handler_reports_import_error(local_aws: LocalAws, role_arn: str) -> None:
    # Given a function whose Handler names a module that does not exist
    lambda_client = local_aws.client("lambda")
    arn = lambda_client.create_function(
        FunctionName=unique("missing-module"),
        Runtime="python3.12",
        Role=role_arn,
        Handler="tests.local_aws.no_such_module.handler",
        Code={"ZipFile": tiny_zip()},
    )["FunctionArn"]
    # When it is invoked
    response, body = _invoke(local_aws, arn, {})
    # Then the runtime's import error comes back
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "tests.local_aws.no_such_module" in body["errorMessage"]


def _json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_powertools_logs_are_captured_whenever_the_logger_was_created(
    local_aws: LocalAws, make_function: Callable[..., str], role_arn: str
) -> None:
    # Given one Powertools handler first imported by the runtime, and one imported by the tests beforehand
    lambda_client = local_aws.client("lambda")
    lazy = lambda_client.create_function(
        FunctionName=unique("powertools-lazy"),
        Runtime="python3.12",
        Role=role_arn,
        Handler="tests.local_aws.powertools_handlers.handler",
        Code={"ZipFile": tiny_zip()},
    )["FunctionArn"]
    eager = make_function("powertools_logged")
    markers = {lazy: unique("lazy"), eager: unique("eager")}
    # When each is invoked
    for arn, marker in markers.items():
        response, _ = _invoke(local_aws, arn, {"marker": marker})
        assert "FunctionError" not in response
    # Then each structured line was captured once, with its extra keys and the injected Lambda context
    structured = _json_lines(local_aws.captured_logs)
    for arn, marker in markers.items():
        [line] = [entry for entry in structured if entry.get("marker") == marker]
        assert line["message"] == "handled"
        assert line["function_name"] == arn.split(":")[-1]
        assert line["function_arn"] == arn


def _invoke_together(local_aws: LocalAws, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(_invoke, local_aws, arn, payload) for arn, payload in calls]
        results = [future.result() for future in futures]
    assert all("FunctionError" not in response for response, _ in results), results
    return [body for _, body in results]


def test_concurrent_invocations_run_at_the_same_time_in_containers_of_their_own(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given two functions
    first, second = make_function("rendezvous", timeout=300), make_function("rendezvous", timeout=300)
    group = unique("together")
    # When three invocations of one and one of the other are made at once, each waiting for all four (a
    # barrier: they return as soon as all four are in; the patience is a hang guard for containers that start
    # slowly on a busy machine)
    payload = {"group": group, "expected": 4, "patience": 240}
    bodies = _invoke_together(local_aws, [(first, payload), (first, payload), (first, payload), (second, payload)])
    # Then all four were inside their handlers together (a runtime that serialized them would have met none),
    # each in a process of its own
    assert [body["met"] for body in bodies] == [True] * 4
    assert len({body["pid"] for body in bodies} | {os.getpid()}) == 5


def test_each_function_keeps_its_own_environment_and_module_state(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given two functions of the same handler module, with different environments
    a, b = make_function("counter", env={"MARK": "A"}), make_function("counter", env={"MARK": "B"})
    # When each is invoked, one of them twice
    first_a, second_a, only_b = (_invoke(local_aws, arn, {})[1] for arn in (a, a, b))
    # Then A's container stayed warm (its module state counts on), and B's started from its own state,
    # seeing neither A's variables nor what A's handler set
    assert (first_a["count"], second_a["count"], first_a["pid"]) == (1, 2, second_a["pid"])
    assert only_b == {"pid": only_b["pid"], "count": 1, "mark": "B", "set": ["SET_BY_B"]}
    assert only_b["pid"] != first_a["pid"]
    assert "SET_BY_A" not in os.environ and "MARK" not in os.environ


def test_reserved_concurrency_caps_the_containers_of_a_function(
    local_aws: LocalAws, make_function: Callable[..., str]
) -> None:
    # Given a function with a reserved concurrency of 1
    arn = make_function("occupancy", timeout=10)
    local_aws.client("lambda").put_function_concurrency(FunctionName=arn, ReservedConcurrentExecutions=1)
    # When three invocations are made at once, each staying a moment
    payload = {"group": unique("capped"), "seconds": 0.2}
    bodies = _invoke_together(local_aws, [(arn, payload)] * 3)
    # Then they ran one after the other, in the one container
    assert [body["most_at_once"] for body in bodies] == [1] * 3
    assert len({body["pid"] for body in bodies}) == 1
