"""Which items of the registry table are clusters': the others (baselines, leases, creation markers) share it."""

from kops_lambda.logic.lease import lease_key
from kops_lambda.logic.registry import cluster_key, is_cluster_key
from kops_lambda.logic.rollback.baseline import baseline_key


def test_a_clusters_key_is_one() -> None:
    assert is_cluster_key(cluster_key("eu-west-1", "a.k8s.local"))


def test_baselines_leases_and_creation_markers_are_not() -> None:
    assert not is_cluster_key(baseline_key("exec-1"))
    assert not is_cluster_key(lease_key("eu-west-1", "a.k8s.local"))
    assert not is_cluster_key("creating#access-key#a.k8s.local")
