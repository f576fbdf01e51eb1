"""Forget what warm Lambda containers keep between invocations (cached clients, identities, kube clients).

For tests that call handlers in their own process (the local system runs them in worker processes):
module-level caches outlive one moto account, and clients built for one endpoint must not be reused by the
next. Real Lambda starts new containers after a deployment; this is the local equivalent.
"""

import sys


def forget_warm_containers(package: str = "kops_lambda") -> int:
    """Clear every functools cache in the loaded modules of the package; returns how many were cleared."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(f"{package}.")):
            continue
        for value in list(vars(module).values()):
            cache_clear = getattr(value, "cache_clear", None)
            if callable(cache_clear) and getattr(value, "__module__", None) == name:
                cache_clear()
                cleared += 1
    return cleared
