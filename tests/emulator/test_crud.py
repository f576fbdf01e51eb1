"""Create/read/update/delete through the official client: namespaces, several kinds, errors, metadata."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator
from tests.emulator import objects
from tests.emulator.conftest import stored


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_namespace_create_list_and_cascading_delete(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a namespace created over HTTP (POST /api/v1/namespaces) with objects in it
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a")))
    core.create_namespaced_config_map("team-a", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg")))
    core.create_namespaced_secret("team-a", client.V1Secret(metadata=client.V1ObjectMeta(name="s")))
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="keep")))
    # Then it is Active and listed next to the built-in namespaces
    assert created.status.phase == "Active"
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system", "team-a"]

    # When the namespace is deleted (raw JSON: the client would decode the answer as a V1Status)
    deleted = json.loads(core.delete_namespace("team-a", _preload_content=False).data)

    # Then the answer is the terminating namespace, and the namespace and its contents are gone
    assert (deleted["kind"], deleted["status"]["phase"]) == ("Namespace", "Terminating")
    with pytest.raises(ApiException) as missing:
        core.read_namespace("team-a")
    assert missing.value.status == 404
    assert emulator.store.list("ConfigMap", "team-a") == []
    assert emulator.store.list("Secret", "team-a") == []
    # And other namespaces keep their objects
    assert core.read_namespaced_config_map("keep", "default").metadata.name == "keep"


def test_create_in_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    # When a ConfigMap is created in a namespace that does not exist
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map("nope", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    # Then the API answers 404 about the namespace, like the real server
    assert error.value.status == 404
    assert status_of(error.value)["message"] == 'namespaces "nope" not found'


RBAC = client.RbacAuthorizationV1Api
RULES = [client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get"])]
SUBJECTS = [client.RbacV1Subject(kind="ServiceAccount", name="sa", namespace="default")]
KINDS: list[tuple[str, type, str, bool, Any]] = [
    ("configmaps", client.CoreV1Api, "config_map", True, lambda n: client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=n), data={"k": "v"})),
    ("secrets", client.CoreV1Api, "secret", True, lambda n: client.V1Secret(
        metadata=client.V1ObjectMeta(name=n), string_data={"k": "v"})),
    ("serviceaccounts", client.CoreV1Api, "service_account", True, lambda n: client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=n))),
    ("clusterroles.rbac.authorization.k8s.io", RBAC, "cluster_role", False, lambda n: client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name=n), rules=RULES)),
    ("clusterrolebindings.rbac.authorization.k8s.io", RBAC, "cluster_role_binding", False,
     lambda n: client.V1ClusterRoleBinding(metadata=client.V1ObjectMeta(name=n), subjects=SUBJECTS,
                                           role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io",
                                                                     kind="ClusterRole", name="r"))),
    ("roles.rbac.authorization.k8s.io", RBAC, "role", True, lambda n: client.V1Role(
        metadata=client.V1ObjectMeta(name=n), rules=RULES)),
    ("rolebindings.rbac.authorization.k8s.io", RBAC, "role_binding", True, lambda n: client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=n), subjects=SUBJECTS,
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="r"))),
    ("poddisruptionbudgets.policy", client.PolicyV1Api, "pod_disruption_budget", True,
     lambda n: client.V1PodDisruptionBudget(
         metadata=client.V1ObjectMeta(name=n),
         spec=client.V1PodDisruptionBudgetSpec(min_available=1,
                                               selector=client.V1LabelSelector(match_labels={"app": n})))),
    ("leases.coordination.k8s.io", client.CoordinationV1Api, "lease", True, lambda n: client.V1Lease(
        metadata=client.V1ObjectMeta(name=n), spec=client.V1LeaseSpec(holder_identity="me"))),
]  # fmt: skip


@pytest.mark.parametrize(("resource", "api_class", "noun", "namespaced", "build"), KINDS, ids=[k[0] for k in KINDS])
def test_crud_round_trip_with_conflicts_and_not_found(
    api: client.ApiClient, resource: str, api_class: type, noun: str, namespaced: bool, build: Any
) -> None:
    kind_api = api_class(api)
    scope = ("namespaced_" if namespaced else "") + noun
    ns_args: tuple[str, ...] = ("default",) if namespaced else ()

    def call(verb: str, *args: Any) -> Any:
        return getattr(kind_api, f"{verb}_{scope}")(*args)

    # Given an object created over HTTP
    created = call("create", *ns_args, build("one"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    # When the same name is created again
    with pytest.raises(ApiException) as duplicate:
        call("create", *ns_args, build("one"))
    # Then it is 409 AlreadyExists, worded like the real API
    assert duplicate.value.status == 409
    assert status_of(duplicate.value)["reason"] == "AlreadyExists"
    assert status_of(duplicate.value)["message"] == f'{resource} "one" already exists'

    # When it is read, listed, replaced
    assert call("read", "one", *ns_args).metadata.uid == created.metadata.uid
    listed = call("list", *ns_args).items
    assert [item.metadata.name for item in listed] == ["one"]
    body = call("read", "one", *ns_args)
    body.metadata.labels = {"changed": "yes"}
    replaced = call("replace", "one", *ns_args, body)
    # Then the replacement keeps the identity and gets a newer resourceVersion
    assert replaced.metadata.labels == {"changed": "yes"}
    assert replaced.metadata.uid == created.metadata.uid
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    # When it is deleted, then reading it is 404 NotFound with the real message
    call("delete", "one", *ns_args)
    with pytest.raises(ApiException) as gone:
        call("read", "one", *ns_args)
    assert gone.value.status == 404
    assert status_of(gone.value)["reason"] == "NotFound"
    assert status_of(gone.value)["message"] == f'{resource} "one" not found'


def test_generate_name_assigns_a_unique_suffix(core: client.CoreV1Api) -> None:
    # When two objects are created from the same generateName
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="job-"))
    first = core.create_namespaced_config_map("default", body)
    second = core.create_namespaced_config_map("default", body)
    # Then each gets the prefix plus five random characters
    assert re.fullmatch(r"job-[a-z0-9]{5}", first.metadata.name)
    assert first.metadata.name != second.metadata.name


def test_status_subresource_separates_spec_and_status(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given a running pod
    emulator.store.create(objects.pod("web", labels={"app": "web"}))
    # When the main resource is patched with a status change, the status is ignored (as the real server does)
    patched = core.patch_namespaced_pod(
        "web", "default", {"metadata": {"labels": {"x": "1"}}, "status": {"phase": "Failed"}}
    )
    assert patched.metadata.labels == {"app": "web", "x": "1"}
    assert patched.status.phase == "Running"
    # When /status is patched, only the status changes
    updated = core.patch_namespaced_pod_status(
        "web", "default", {"status": {"phase": "Succeeded"}, "metadata": {"labels": {"y": "2"}}}
    )
    assert updated.status.phase == "Succeeded"
    assert "y" not in updated.metadata.labels
    # And GET /status returns the object
    assert core.read_namespaced_pod_status("web", "default").status.phase == "Succeeded"


def test_node_and_deployment_status_subresources(
    emulator: KubeApiEmulator, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    # Given a node and a deployment
    emulator.store.create(objects.node("node-1"))
    apps.create_namespaced_deployment("default", objects.workload("Deployment", "web", 2))
    # When their status subresources are written
    node = core.read_node_status("node-1")
    node.status.conditions[0].status = "False"
    core.replace_node_status("node-1", node)
    apps.patch_namespaced_deployment_status("web", "default", {"status": {"readyReplicas": 2}})
    # Then the new statuses are stored
    assert stored(emulator, "Node", None, "node-1")["status"]["conditions"][0]["status"] == "False"
    assert apps.read_namespaced_deployment_status("web", "default").status.ready_replicas == 2


def test_generation_tracks_spec_changes(apps: client.AppsV1Api) -> None:
    # Given a deployment at generation 1
    created = apps.create_namespaced_deployment("default", objects.workload("Deployment", "web", 1))
    assert created.metadata.generation == 1
    # When only labels change, then the generation stays; when the spec changes, it is bumped
    labelled = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"a": "b"}}})
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert (labelled.metadata.generation, scaled.metadata.generation) == (1, 2)


def test_cross_namespace_pod_list(emulator: KubeApiEmulator, core: client.CoreV1Api) -> None:
    # Given pods in two namespaces
    emulator.store.create(objects.pod("a", "default"))
    emulator.store.create(objects.pod("b", "kube-system"))
    # When listing /api/v1/pods
    pods = core.list_pod_for_all_namespaces()
    # Then both are there, with a list resourceVersion
    assert [(p.metadata.namespace, p.metadata.name) for p in pods.items] == [
        ("default", "a"),
        ("kube-system", "b"),
    ]
    assert int(pods.metadata.resource_version) >= 2


def test_pod_delete_is_immediate_and_grace_period_is_recorded(
    emulator: KubeApiEmulator, core: client.CoreV1Api
) -> None:
    # Given a pod
    emulator.store.create(objects.pod("web"))
    # When it is deleted with a grace period
    deleted = core.delete_namespaced_pod("web", "default", grace_period_seconds=30)
    # Then the answer is the pod, it is gone at once, and the grace period is in the request journal
    assert deleted.metadata.name == "web"
    assert emulator.store.get("Pod", "default", "web") is None
    assert emulator.requests[-1].grace_period_seconds == 30


def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api) -> None:
    # Given a ConfigMap with a finalizer
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/cleanup"])),
    )
    # When it is deleted, then it only gets a deletionTimestamp
    core.delete_namespaced_config_map("held", "default")
    assert core.read_namespaced_config_map("held", "default").metadata.deletion_timestamp is not None
    # When the finalizer is removed, then the object is really gone
    core.patch_namespaced_config_map("held", "default", [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", "default")
    assert gone.value.status == 404


@pytest.mark.parametrize(
    "path", ["/api/v1/widgets", "/apis/example.com/v1/widgets", "/api/v1/namespaces/default/nodes"]
)
def test_unknown_resources_are_404(api: client.ApiClient, path: str) -> None:
    # When an unserved resource path is requested
    with pytest.raises(ApiException) as error:
        api.call_api(path, "GET", auth_settings=["BearerToken"], response_types_map={}, _return_http_data_only=True)
    # Then it is a 404 Status, not a crash
    assert error.value.status == 404
    assert status_of(error.value)["reason"] == "NotFound"


def test_put_with_mismatched_name_is_bad_request(core: client.CoreV1Api) -> None:
    # Given a ConfigMap
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    # When a PUT to /configmaps/a carries another name
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("a", "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))
    # Then it is rejected like the real server does
    assert error.value.status == 400
    assert "does not match the name on the URL" in status_of(error.value)["message"]
