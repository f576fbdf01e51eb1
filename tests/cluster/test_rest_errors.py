"""KubeRest's error contract where only a real kube-apiserver shows it: a namespace still being deleted."""

import pytest

from kops_lambda.errors import RetryableError
from kops_lambda.logic.cluster.rest import KubeRest

from .conftest import MakeCluster

HOLD = "kops-onboard.io/test-hold"


def test_a_create_in_a_namespace_being_deleted_is_retried_not_an_access_error(make_cluster: MakeCluster) -> None:
    # Given a namespace being deleted (a finalizer of the test keeps it Terminating)
    cluster = make_cluster("kops=1.21", nodes=1, kube="real")
    store = cluster.kube.store
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "leaving", "finalizers": [HOLD]}})
    store.delete("v1/namespaces", None, "leaving")
    rest = KubeRest(cluster.api)
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "leaving"}}
    try:
        # When an object is created in it, Then the 403 is a retryable error (it is gone within seconds)
        with pytest.raises(RetryableError, match="still being deleted"):
            rest.create("/api/v1/namespaces/leaving/configmaps", configmap)
    finally:
        store.mutate("v1/namespaces", None, "leaving", lambda ns: ns["metadata"].update(finalizers=[]))
