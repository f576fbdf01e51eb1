"""The bench's pure helpers for aws-node-termination-handler: its environment, its pinned version, and which
node writes cordon."""

import pytest

from bench.nth import GO_MOD, MANAGED_TAG, nth_environment, pinned_version
from bench.timeline import sets_unschedulable


def _environment() -> dict[str, str]:
    return nth_environment(
        queue_url="http://127.0.0.1:5000/123456789012/nth-bench",
        aws_endpoint="http://127.0.0.1:5000",
        region="us-east-1",
        api_host="127.0.0.1",
        api_port=6443,
        node_name="i-0123456789abcdef0",
        home="/tmp/nth-home",
    )


def test_environment_has_the_kops_queue_processor_settings() -> None:
    environment = _environment()
    assert environment["ENABLE_SQS_TERMINATION_DRAINING"] == "true"
    assert environment["USE_PROVIDER_ID"] == "true"
    assert environment["CHECK_TAG_BEFORE_DRAINING"] == "true"
    assert environment["MANAGED_TAG"] == MANAGED_TAG == "aws-node-termination-handler/managed"
    assert environment["NODE_TERMINATION_GRACE_PERIOD"] == "120"
    assert environment["WORKERS"] == "10"
    assert environment["QUEUE_URL"] == "http://127.0.0.1:5000/123456789012/nth-bench"


def test_environment_points_at_loopback_only_and_serves_nothing() -> None:
    environment = _environment()
    assert environment["AWS_ENDPOINT"] == "http://127.0.0.1:5000"
    assert (environment["KUBERNETES_SERVICE_HOST"], environment["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    assert environment["ENABLE_PROBES_SERVER"] == environment["ENABLE_PROMETHEUS_SERVER"] == "false"
    assert "WEBHOOK_URL" not in environment
    assert environment["AWS_EC2_METADATA_DISABLED"] == "true"


def test_environment_inherits_nothing_from_the_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("AWS_PROFILE", "production")
    environment = _environment()
    assert "HTTPS_PROXY" not in environment and "AWS_PROFILE" not in environment
    assert environment["HOME"] == "/tmp/nth-home"


def test_pinned_version_on_a_one_line_require_and_in_a_block() -> None:
    one_line = "module m\n\nrequire github.com/aws/aws-node-termination-handler v1.25.1\n"
    block = "module m\n\nrequire (\n\tgithub.com/aws/aws-node-termination-handler v1.22.0 // indirect\n)\n"
    assert pinned_version(one_line) == "v1.25.1"
    assert pinned_version(block) == "v1.22.0"


def test_pinned_version_of_the_wrapper_module_is_the_one_the_bench_uses() -> None:
    assert pinned_version(GO_MOD.read_text()) == "v1.25.1"


def test_pinned_version_names_a_missing_module() -> None:
    with pytest.raises(ValueError, match="aws-node-termination-handler is not required"):
        pinned_version("module m\n\nrequire k8s.io/kubernetes v1.35.4\n")


@pytest.mark.parametrize(
    ("body", "cordons"),
    [
        ({"spec": {"unschedulable": True}}, True),  # kubectl's drain library, NTH's cordon
        ({"spec": {"unschedulable": True, "taints": []}, "metadata": {"labels": {}}}, True),  # our handler's
        ({"metadata": {"labels": {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}}}, False),
        ({"spec": {"unschedulable": False}}, False),  # an uncordon
        ([{"op": "replace", "path": "/spec/unschedulable", "value": True}], True),
        ([{"op": "add", "path": "/metadata/labels/a", "value": "b"}], False),
        (None, False),
    ],
)
def test_which_node_writes_cordon(body: object, cordons: bool) -> None:
    assert sets_unschedulable(body) is cordons
