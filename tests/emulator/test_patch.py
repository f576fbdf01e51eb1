"""PATCH flavours: JSON merge patch, JSON patch, strategic merge patch (the official client's default)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator
from kops_local.kube.patching import strategic_merge_patch
from tests.emulator import objects

MERGE = "application/merge-patch+json"


@pytest.fixture
def deployment(apps: client.AppsV1Api) -> dict[str, Any]:
    body = objects.workload("Deployment", "web", 2)
    body["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]
    body["spec"]["template"]["spec"]["tolerations"] = [{"key": "spot", "operator": "Exists"}]
    apps.create_namespaced_deployment("default", body)
    return body


def containers(apps: client.AppsV1Api) -> list[client.V1Container]:
    result: list[client.V1Container] = apps.read_namespaced_deployment("web", "default").spec.template.spec.containers
    return result


def test_official_client_sends_strategic_merge_for_dicts_and_json_patch_for_lists(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a node
    emulator.store.create(objects.node("node-1"))
    # When patch_node gets a dict, then a list
    core.patch_node("node-1", {"spec": {"unschedulable": True}})
    core.patch_node("node-1", [{"op": "add", "path": "/metadata/labels/spot", "value": "true"}])
    # Then the client chose strategic merge patch, then JSON patch, and both applied
    assert [r.content_type for r in emulator.requests[-2:]] == [
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ]
    node = core.read_node("node-1")
    assert node.spec.unschedulable is True
    assert node.metadata.labels["spot"] == "true"


def test_merge_patch_null_deletes_and_lists_are_replaced(apps: client.AppsV1Api, deployment: dict[str, Any]) -> None:
    # When a merge patch nulls a label and sets the containers list
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "1"}}}, _content_type=MERGE)
    patch = {
        "metadata": {"labels": {"x": None}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}},
    }
    patched = apps.patch_namespaced_deployment("web", "default", patch, _content_type=MERGE)
    # Then the label is gone and the list is exactly the patch's list
    assert "x" not in (patched.metadata.labels or {})
    assert [(c.name, c.image, c.env) for c in containers(apps)] == [("app", "app:2", None)]


def test_json_patch_operations_and_failed_test_operation(core: client.CoreV1Api) -> None:
    # Given a ConfigMap
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "1", "b": "2"})
    )
    # When a JSON patch adds, replaces and removes
    ops = [
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "remove", "path": "/data/b"},
    ]
    # Then all operations apply
    assert core.patch_namespaced_config_map("c", "default", ops).data == {"a": "10", "c": "3"}
    # And a failing "test" operation is a 422 that changes nothing
    with pytest.raises(ApiException) as error:
        core.patch_namespaced_config_map(
            "c",
            "default",
            [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "remove", "path": "/data/a"}],
        )
    assert error.value.status == 422
    assert core.read_namespaced_config_map("c", "default").data == {"a": "10", "c": "3"}


def test_strategic_merge_patch_merges_containers_by_name_and_replaces_tolerations(
    apps: client.AppsV1Api, deployment: dict[str, Any]
) -> None:
    # When a strategic merge patch (the client's default) changes one container's image and one env var,
    # and sets tolerations
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "20"}]}],
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("web", "default", patch)
    # Then containers and env merged by name (the sidecar and env A survive), tolerations were replaced
    assert [(c.name, c.image) for c in containers(apps)] == [("app", "app:2"), ("sidecar", "proxy:1")]
    assert [(e.name, e.value) for e in containers(apps)[0].env] == [("A", "1"), ("B", "20")]
    assert [t.key for t in patched.spec.template.spec.tolerations] == ["dedicated"]


def test_strategic_merge_patch_directives_and_node_taints() -> None:
    # Given a pod spec and a node
    pod = {"metadata": {"finalizers": ["a"]}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    node = {"spec": {"taints": [{"key": "old", "effect": "NoSchedule"}]}}
    # When patches use $patch: delete, merge finalizers, and set taints (no merge key in NodeSpec)
    patched_pod = strategic_merge_patch(
        pod, {"metadata": {"finalizers": ["b"]}, "spec": {"containers": [{"name": "a", "$patch": "delete"}]}}
    )
    patched_node = strategic_merge_patch(node, {"spec": {"taints": [{"key": "new", "effect": "NoExecute"}]}})
    # Then the container is removed, finalizers are a union, and taints are replaced
    assert patched_pod == {"metadata": {"finalizers": ["a", "b"]}, "spec": {"containers": [{"name": "b"}]}}
    assert patched_node == {"spec": {"taints": [{"key": "new", "effect": "NoExecute"}]}}


def test_server_side_apply_is_unsupported_media_type(api: client.ApiClient, core: client.CoreV1Api) -> None:
    # Given a ConfigMap
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    # When it is patched with server-side apply
    with pytest.raises(ApiException) as error:
        core.patch_namespaced_config_map("c", "default", {"data": {}}, _content_type="application/apply-patch+yaml")
    # Then the emulator says so with 415 rather than misapplying it
    assert error.value.status == 415
