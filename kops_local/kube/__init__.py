"""A Kubernetes API server emulator over HTTP, for local runs and tests.

`KubeApiEmulator` serves one emulated cluster on a background thread. The official `kubernetes`
Python client and `kubectl` use it unchanged: CRUD with resourceVersions and 409 conflicts, label and
field selectors, merge / JSON / strategic-merge PATCH, status subresources, pods/eviction with
PodDisruptionBudgets, discovery, server-side Tables, bearer-token auth. `store` gives direct,
thread-safe access for seeding and assertions; `requests`, `inject_fault` and `before_request` let
tests observe traffic and simulate throttling, server errors and concurrent writers.

kubectl sends a kubeconfig's token only over https: give `tls=True` (a throwaway CA is generated,
see `ca_certificate` and `kubeconfig()`) when kubectl must talk to a token-protected emulator.

What comes from kmock (0.8):
- the catalogue of built-in resources (kinds, singular names, short names, categories, verbs, scope,
  subresource names) from its bundled discovery snapshot of a real cluster (`catalog.py`);
- `kmock.KubernetesError`, the exception type carrying a Status's code/reason/message/details.

What is ours, and why kmock's counterpart is not used:
- HTTP serving (`emulator.py`, `server.py`) on aiohttp's low-level server: `kmock.Server` patches
  aiohttp's resolver process-wide and fails unless servers stop in LIFO order;
- path routing (`routing.py`): kmock's parser takes `/api/v1/namespaces/{name}` for a namespace
  prefix (`POST /api/v1/namespaces` answers 500) and does not know cluster-scoped resources;
- the object store (`store.py`): uid, global resourceVersion, optimistic concurrency, generateName,
  finalizers, namespace cascade, a thread lock usable from test threads (kmock's store has an asyncio
  lock only and merges every write as a dict patch);
- selectors, PATCH flavours, status subresources, eviction with PDB arithmetic, discovery with
  subresource kinds (needed for kubectl drain to evict), Tables: not in kmock;
- request journal, fault injection and hooks: kmock's DSL could express canned replies but matches by
  scanning the whole request history per reaction, too slow for long `local up` sessions.

Held to the real server by `tests/emulator/test_differential.py` (CRUD and 409s, merge / strategic merge /
JSON patch, selectors, eviction 201/429/404, discovery, Events, immutable roleRef, `kubectl get/cordon/drain`),
which found and fixed: a binding's `roleRef` was mutable here (the real server answers 422). Differences the
real control plane showed that stay, because the cluster-side and Spot suites run on the real one
(`--kube real`) and the emulator is the fast default for everything else:
- no admission: the real server refuses `spec.priority` without its PriorityClass and taints every new
  node `node.kubernetes.io/not-ready` (lifted here by our kubelet stand-in, on a real cluster by the node
  lifecycle controller), and validates statuses (a Complete Job needs SuccessCriteriaMet);
- no defaulting (e.g. `configMap.defaultMode`), and DELETE of RBAC objects returns the object, not a Status;
- no controllers: no garbage collection of pods whose owners do not exist, no disruption controller (PDB
  status is computed at eviction time, the real server answers 429 until it has observed a new PDB),
  no recreation of evicted Deployment pods, namespaces are deleted at once (the real one: Terminating
  until the namespace controller has emptied them).

Known gaps (by design): no watch (`?watch=true` answers 405, `watch` is not advertised), `limit` and
`continue` are ignored (lists are complete, no continue token), no server-side apply
(`application/apply-patch+yaml` answers 415), no dry-run, no protobuf (415, so kubectl's typed
generators such as `kubectl create namespace X` fail; `kubectl apply/create -f` work), no OpenAPI
documents (kubectl needs `--validate=false` for `apply/create -f`), no admission or schema validation
beyond identity checks, grace periods are recorded but deletion is immediate, and objects created over
HTTP keep the `status` they were sent with (the real server resets it) so tests can seed running pods.
"""

from kops_local.kube.catalog import Catalog, ResourceType, builtin_catalog
from kops_local.kube.emulator import KubeApiEmulator
from kops_local.kube.errors import ApiError
from kops_local.kube.recording import RecordedRequest
from kops_local.kube.server import RequestHook
from kops_local.kube.store import ObjectStore

__all__ = [
    "ApiError",
    "Catalog",
    "KubeApiEmulator",
    "ObjectStore",
    "RecordedRequest",
    "RequestHook",
    "ResourceType",
    "builtin_catalog",
]
