"""Label and field selectors on list calls."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator
from kops_local.kube.selectors import parse_field_selector, parse_label_selector
from tests.emulator import objects


@pytest.fixture
def labelled_pods(emulator: KubeApiEmulator) -> None:
    for name, labels in {
        "web-1": {"app": "web", "tier": "front"},
        "web-2": {"app": "web", "tier": "back"},
        "db-1": {"app": "db", "tier": "back", "critical": "true"},
        "bare": {},
    }.items():
        emulator.store.create(objects.pod(name, labels=labels))


@pytest.mark.usefixtures("labelled_pods")
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==web", ["web-1", "web-2"]),
        ("app!=web", ["bare", "db-1"]),  # != also matches pods without the label
        ("tier in (back, front),app notin (db)", ["web-1", "web-2"]),
        ("app notin (web)", ["bare", "db-1"]),
        ("critical", ["db-1"]),
        ("!critical", ["bare", "web-1", "web-2"]),
        ("app=web,tier=back", ["web-2"]),
        ("app=nothing", []),
    ],
)
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    # When pods are listed with a label selector
    pods = core.list_namespaced_pod("default", label_selector=selector)
    # Then exactly the matching pods come back
    assert sorted(p.metadata.name for p in pods.items) == expected


def test_field_selector_on_node_name_across_namespaces(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given pods on two nodes in two namespaces, and an unscheduled one
    emulator.store.create(objects.pod("a", "default", node_name="node-1"))
    emulator.store.create(objects.pod("b", "kube-system", node_name="node-1"))
    emulator.store.create(objects.pod("c", "default", node_name="node-2"))
    emulator.store.create(objects.pod("pending", "default", node_name=None, phase="Pending"))
    # When pods of all namespaces are listed by spec.nodeName (what kubectl drain does)
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-1")
    unscheduled = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=")
    # Then only that node's pods come back, from every namespace
    assert [(p.metadata.namespace, p.metadata.name) for p in on_node.items] == [
        ("default", "a"),
        ("kube-system", "b"),
    ]
    assert [p.metadata.name for p in unscheduled.items] == ["pending"]


def test_field_selectors_on_metadata_status_and_booleans(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given running and finished pods and a cordoned node
    emulator.store.create(objects.pod("run", phase="Running"))
    emulator.store.create(objects.pod("done", phase="Succeeded"))
    emulator.store.create(objects.node("node-1"))
    emulator.store.create(objects.node("node-2"))
    core.patch_node("node-2", {"spec": {"unschedulable": True}})
    # When filtering on status.phase, metadata.name, metadata.namespace and a boolean field
    not_running = core.list_namespaced_pod("default", field_selector="status.phase!=Running")
    by_name = core.list_pod_for_all_namespaces(field_selector="metadata.name==run,metadata.namespace=default")
    cordoned = core.list_node(field_selector="spec.unschedulable=true")
    # Then each returns what matches
    assert [p.metadata.name for p in not_running.items] == ["done"]
    assert [p.metadata.name for p in by_name.items] == ["run"]
    assert [n.metadata.name for n in cordoned.items] == ["node-2"]


def test_malformed_selector_is_bad_request(core: client.CoreV1Api) -> None:
    # When a selector cannot be parsed
    with pytest.raises(ApiException) as error:
        core.list_namespaced_pod("default", label_selector="app in (web")
    # Then the API answers 400 instead of ignoring it
    assert error.value.status == 400


def test_selector_parsers_handle_escapes_and_sets() -> None:
    # Given selectors with escaped commas and set syntax
    fields = parse_field_selector(r"metadata.name=a\,b,spec.nodeName!=n")
    labels = parse_label_selector("env in (prod,staging), !legacy")
    # Then they parse into the intended requirements
    assert [(f.path, f.value, f.equal) for f in fields] == [
        ("metadata.name", "a,b", True),
        ("spec.nodeName", "n", False),
    ]
    assert [(r.key, r.op, sorted(r.values)) for r in labels] == [
        ("env", "in", ["prod", "staging"]),
        ("legacy", "!exists", []),
    ]
