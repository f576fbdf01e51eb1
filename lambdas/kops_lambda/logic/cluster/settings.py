"""Environment of the in-cluster step functions, read when a handler runs (never at import time)."""

import os
from collections.abc import Mapping

from kops_lambda.constants import ENV_AGENT_API_URL, ENV_SPOT_FORCE_DELETE, ENV_SPOT_HANDLER_ROLE_ARN
from kops_lambda.models.cluster import ClusterStepSettings
from kops_lambda.models.steps import parse_model


def load_cluster_settings(environ: Mapping[str, str] | None = None) -> ClusterStepSettings:
    """SPOT_HANDLER_ROLE_ARN (optional: no role mapping without it), AGENT_API_URL and SPOT_FORCE_DELETE
    (optional)."""
    env = os.environ if environ is None else environ
    values = {
        "spot_handler_role_arn": env.get(ENV_SPOT_HANDLER_ROLE_ARN) or None,
        "agent_api_url": env.get(ENV_AGENT_API_URL) or None,
        "spot_force_delete": env.get(ENV_SPOT_FORCE_DELETE) or None,
    }
    return parse_model(ClusterStepSettings, {k: v for k, v in values.items() if v is not None})
