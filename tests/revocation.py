"""Waiting until kube-apiserver refuses a revoked ServiceAccount token, or honours a new binding.

Revocation is not instantaneous on a real server: token authentication looks the account up in the
apiserver's informer cache (a deleted account stays there until the watch event arrives, milliseconds
later), and a token that authenticated successfully is cached for 10 s (kube-apiserver's token success
cache). Tests that revoke a token first wait for the server to refuse it (a TokenReview, which goes through
the same authenticator), then assert what the product does with it.

A new (Cluster)RoleBinding is the same the other way round: the RBAC authorizer reads bindings from its
informer cache, so a request right after the create may still be refused (403) until the watch event arrives.
Tests that bind an account and use it at once first wait until a SubjectAccessReview allows it.
"""

from __future__ import annotations

import time

from kubernetes import client as k8s

from kops_local.controlplane import RealKubeCluster
from kops_local.kube.served import ServedKubeApi

# The token success cache's 10 s, plus the informer's lag.
REVOCATION_SECONDS = 15.0


def wait_until_refused(kube: ServedKubeApi, admin: k8s.ApiClient, token: str) -> None:
    """`admin`: a client of the cluster's admin. The emulator forgets a token with its account at once."""
    if not isinstance(kube, RealKubeCluster):
        return
    deadline = time.monotonic() + REVOCATION_SECONDS
    while True:
        review = k8s.AuthenticationV1Api(admin).create_token_review({"spec": {"token": token}})
        if not review.status.authenticated:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the server still accepts the revoked token after {REVOCATION_SECONDS:g} s")
        time.sleep(0.1)


# A hang guard: the watch event takes milliseconds, seconds on a loaded machine.
BINDING_SECONDS = 30.0


def wait_until_allowed(
    kube: ServedKubeApi,
    admin: k8s.ApiClient,
    user: str,
    *,
    verb: str,
    resource: str,
    subresource: str = "",
    namespace: str = "",
    name: str = "",
) -> None:
    """Wait until the server's RBAC authorizer allows `user` the verb on the resource, cluster-wide or in
    `namespace`, on any object or the one `name` (the emulator applies a binding at once)."""
    if not isinstance(kube, RealKubeCluster):
        return
    attributes = {"verb": verb, "resource": resource, "subresource": subresource, "namespace": namespace, "name": name}
    deadline = time.monotonic() + BINDING_SECONDS
    while True:
        review = k8s.AuthorizationV1Api(admin).create_subject_access_review(
            {"spec": {"user": user, "resourceAttributes": attributes}}
        )
        if review.status.allowed:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{user} is still not allowed to {verb} {resource} after {BINDING_SECONDS:g} s")
        time.sleep(0.05)
