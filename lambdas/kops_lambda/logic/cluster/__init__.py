"""In-cluster onboarding: cluster access, identity mapping, agent install, the kube-router fix.

Everything here talks to the API server through `rest.KubeRest` (raw JSON, bounded timeouts, typed
errors); handlers pass in an ApiClient built by `access.cluster_api`.
"""
