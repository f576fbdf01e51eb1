"""What binds an execution to one cluster, re-derived from the cluster name, this account and region rather
than trusted from a step's input: the kubeconfig secret's name, the cluster's IAM user, its VPC (as
ValidateCluster recorded it), and proof that the API server behind the secret is that cluster's.
"""

import json
from http import HTTPStatus
from typing import Any

import yaml

from kops_lambda.adapters.aws_errors import translated_aws_errors
from kops_lambda.adapters.kube import KubeApiError, KubeClient, send, translated_kube_errors
from kops_lambda.constants import (
    AUTHENTICATOR_CONFIG_KEY,
    AUTHENTICATOR_CONFIGMAP,
    AUTHENTICATOR_DAEMONSET,
    KOPS_TAG_CLUSTER,
    KUBE_SYSTEM,
    kubeconfig_secret_name,
)
from kops_lambda.errors import ClusterMismatch, ClusterNotFound, InvalidInput, KubeApiUnavailable
from kops_lambda.logic.iam_names import user_name
from kops_lambda.logic.registry import registered_cluster

# Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
_SECRET_SUFFIX_LENGTH = 7
_SAMPLE = 3
_APPS = "/apis/apps/v1"


def kubeconfig_secret(arn: str, *, cluster_name: str, partition: str, account: str, region: str) -> str:
    """The input's kubeconfig secret ARN, if it is `kops-onboard/clusters/<cluster>/kubeconfig` here.

    `region` is the deployment's, whichever region the cluster is in: our functions read secrets there only."""
    name = kubeconfig_secret_name(cluster_name)
    expected = f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-"
    if not arn.startswith(expected) or len(arn) != len(expected) + _SECRET_SUFFIX_LENGTH - 1:
        raise InvalidInput(
            f"kubeconfig_secret_arn must be the secret {name} in account {account} and region {region}, not {arn}"
        )
    return arn


def cluster_user_arn(*, partition: str, account: str, cluster_name: str) -> str:
    return f"arn:{partition}:iam::{account}:user/{user_name(cluster_name)}"


def registered_vpc(table: Any, *, region: str, cluster_name: str) -> str:
    """The VPC ValidateCluster found and recorded for the cluster."""
    registered = registered_cluster(table, region=region, cluster_name=cluster_name)
    vpc_id = registered.facts.get("vpc_id") if registered else None
    if not vpc_id:
        raise ClusterNotFound(f"cluster {cluster_name!r} in {region} has no validated VPC in the registry")
    return str(vpc_id)


def verify_api_server(api: KubeClient, ec2: Any, *, cluster_name: str, region: str) -> list[str]:
    """Every node's `spec.providerID` must be an instance of this account and region tagged for the cluster,
    and the authenticator, where it runs, must be configured for the cluster's name.

    Returns the proven instance ids; raises ClusterMismatch naming the cluster asked for and the one(s) the
    nodes belong to. A server without nodes proves nothing, so it is a mismatch too.
    """
    with translated_kube_errors("list nodes"):
        nodes = _items(_json(send(api, "GET", "/api/v1/nodes")))
    instance_ids = {_instance_id((node.get("spec") or {}).get("providerID"), region) for node in nodes}
    instance_ids.discard(None)
    if not nodes or len(instance_ids) < len(nodes):
        raise ClusterMismatch(
            f"cannot prove the API server given for {cluster_name!r} is its own: "
            f"{len(nodes) - len(instance_ids)} of its {len(nodes)} node(s) have no AWS providerID in {region}"
        )
    owners = _owners(ec2, sorted(i for i in instance_ids if i))
    foreign = {instance: owner for instance, owner in owners.items() if owner != cluster_name}
    if foreign:
        named = sorted(set(foreign.values()))
        sample = ", ".join(sorted(foreign)[:_SAMPLE])
        raise ClusterMismatch(
            f"the API server given for {cluster_name!r} belongs to {', '.join(named)}: its nodes ({sample}) "
            f"are not instances tagged {KOPS_TAG_CLUSTER}={cluster_name} in this account and {region}"
        )
    _verify_authenticator_cluster_id(api, cluster_name)
    return sorted(owners)


def _verify_authenticator_cluster_id(api: KubeClient, cluster_name: str) -> None:
    """Where aws-iam-authenticator runs, its cluster id (flag, or `clusterID` of its mounted config) is the name."""
    with translated_kube_errors("read the authenticator"):
        try:
            daemonset = _json(
                send(api, "GET", f"/apis/apps/v1/namespaces/{KUBE_SYSTEM}/daemonsets/{AUTHENTICATOR_DAEMONSET}")
            )
        except KubeApiError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return  # no authenticator: MapIdentity refuses the cluster with AuthenticationNotEnabled
            raise
        pod_spec = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
        args = [
            str(a)
            for c in pod_spec.get("containers") or []
            for a in [*(c.get("command") or []), *(c.get("args") or [])]
        ]
        cluster_id = next((a.split("=", 1)[1] for a in args if a.startswith("--cluster-id=")), None)
        if cluster_id is None and any(a.startswith("--config=") for a in args):
            config = _json(send(api, "GET", f"/api/v1/namespaces/{KUBE_SYSTEM}/configmaps/{AUTHENTICATOR_CONFIGMAP}"))
            parsed = yaml.safe_load((config.get("data") or {}).get(AUTHENTICATOR_CONFIG_KEY) or "") or {}
            cluster_id = parsed.get("clusterID") if isinstance(parsed, dict) else None
    if cluster_id is not None and cluster_id != cluster_name:
        raise ClusterMismatch(
            f"the API server given for {cluster_name!r} belongs to {cluster_id}: its aws-iam-authenticator runs "
            f"with cluster id {cluster_id!r}"
        )


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        raise KubeApiUnavailable("the API server's answer is not JSON") from None
    return parsed if isinstance(parsed, dict) else {}


def _items(listing: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in listing.get("items") or [] if isinstance(item, dict)]


def _instance_id(provider_id: str | None, region: str) -> str | None:
    """`aws:///<zone>/<instance id>` with a zone of this region."""
    if not provider_id or not provider_id.startswith("aws:///"):
        return None
    zone, _, instance_id = provider_id.removeprefix("aws:///").partition("/")
    return instance_id if zone.startswith(region) and instance_id.startswith("i-") else None


def _owners(ec2: Any, instance_ids: list[str]) -> dict[str, str]:
    """Instance id -> its cluster tag; an id this account and region do not know belongs to neither."""
    owners = {instance: "an instance outside this account and region" for instance in instance_ids}
    with translated_aws_errors("describe cluster nodes"):
        # A filter, not InstanceIds: one unknown id must not fail the lookup of the others.
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-id", "Values": instance_ids}]
        )
        for found in (i for page in pages for r in page["Reservations"] for i in r["Instances"]):
            tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
            owners[found["InstanceId"]] = tags.get(KOPS_TAG_CLUSTER, "untagged instances")
    return owners
