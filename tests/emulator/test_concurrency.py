"""resourceVersion bookkeeping and optimistic concurrency (409 on stale writes)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kops_local.kube import KubeApiEmulator, RecordedRequest
from tests.emulator.conftest import stored

STALE = (
    'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
    "please apply your changes to the latest version and try again"
)


@pytest.fixture
def config_map(core: client.CoreV1Api) -> client.V1ConfigMap:
    return core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"v": "1"})
    )


def test_resource_version_is_global_and_increases_on_every_write(
    core: client.CoreV1Api, config_map: client.V1ConfigMap
) -> None:
    # When another kind is created, then the ConfigMap is updated and deleted
    secret = core.create_namespaced_secret("default", client.V1Secret(metadata=client.V1ObjectMeta(name="s")))
    updated = core.patch_namespaced_config_map("cfg", "default", {"data": {"v": "2"}})
    listed = core.list_namespaced_config_map("default")
    core.delete_namespaced_config_map("cfg", "default")
    after_delete = core.list_namespaced_config_map("default")
    # Then every write took a higher version from one global counter, and lists report the latest
    versions = [int(o.metadata.resource_version) for o in (config_map, secret, updated)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert int(listed.metadata.resource_version) == versions[-1]
    assert int(after_delete.metadata.resource_version) > versions[-1]


def test_stale_put_is_conflict_and_put_without_version_is_unconditional(
    core: client.CoreV1Api, config_map: client.V1ConfigMap
) -> None:
    # Given someone else updated the ConfigMap after we read it
    core.patch_namespaced_config_map("cfg", "default", {"data": {"v": "2"}})
    config_map.data = {"v": "mine"}
    # When we PUT our copy with its old resourceVersion
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("cfg", "default", config_map)
    # Then it is a 409 Conflict worded like the real API
    status = json.loads(error.value.body)
    assert (error.value.status, status["reason"], status["message"]) == (409, "Conflict", STALE)
    # And without a resourceVersion the same PUT applies unconditionally
    config_map.metadata.resource_version = None
    assert core.replace_namespaced_config_map("cfg", "default", config_map).data == {"v": "mine"}


def test_patch_with_stale_resource_version_is_conflict(core: client.CoreV1Api, config_map: client.V1ConfigMap) -> None:
    # Given the ConfigMap moved on
    core.patch_namespaced_config_map("cfg", "default", {"data": {"v": "2"}})
    # When a patch carries the old resourceVersion as a precondition
    stale = {"metadata": {"resourceVersion": config_map.metadata.resource_version}, "data": {"v": "3"}}
    with pytest.raises(ApiException) as error:
        core.patch_namespaced_config_map("cfg", "default", stale)
    # Then it is refused and nothing changed; with the current version it applies
    assert error.value.status == 409
    current = core.read_namespaced_config_map("cfg", "default")
    assert current.data == {"v": "2"}
    fresh = {"metadata": {"resourceVersion": current.metadata.resource_version}, "data": {"v": "3"}}
    assert core.patch_namespaced_config_map("cfg", "default", fresh).data == {"v": "3"}


def test_before_request_hook_plays_a_concurrent_writer(
    emulator: KubeApiEmulator, core: client.CoreV1Api, config_map: client.V1ConfigMap
) -> None:
    # Given a hook that changes the ConfigMap through the store right before our PUT arrives
    def concurrent_writer(request: RecordedRequest) -> None:
        if request.method == "PUT" and request.path.endswith("/configmaps/cfg"):
            emulator.store.mutate("ConfigMap", "default", "cfg", lambda cm: cm["data"].update(v="theirs"))

    emulator.before_request(concurrent_writer)
    config_map.data = {"v": "mine"}
    # When we PUT the copy we read before
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("cfg", "default", config_map)
    # Then our write loses with 409 and theirs is kept
    assert error.value.status == 409
    assert stored(emulator, "ConfigMap", "default", "cfg")["data"] == {"v": "theirs"}
    assert emulator.requests[-1].status == 409


def test_parallel_read_modify_write_loses_no_update(emulator: KubeApiEmulator, api: client.ApiClient) -> None:
    # Given a counter ConfigMap and 8 writers doing get/put with retry on conflict
    emulator.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}, "data": {"n": "0"}})
    core = client.CoreV1Api(api)

    def increment(_: int) -> int:
        conflicts = 0
        while True:
            cm = core.read_namespaced_config_map("n", "default")
            cm.data["n"] = str(int(cm.data["n"]) + 1)
            try:
                core.replace_namespaced_config_map("n", "default", cm)
                return conflicts
            except ApiException as error:
                assert error.status == 409
                conflicts += 1

    # When 40 increments race
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(increment, range(40)))
    # Then optimistic concurrency kept every increment
    assert stored(emulator, "ConfigMap", "default", "n")["data"]["n"] == "40"
