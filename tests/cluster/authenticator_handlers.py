"""A Lambda handler the local runtime imports by name (`tests.cluster.authenticator_handlers.<name>`)."""

from __future__ import annotations

import os
from typing import Any

from kops_lambda.adapters.authenticator_token import authenticator_token
from kops_lambda.adapters.aws import token_sts_client
from kops_local.iam_tokens import whoami


def whoami_as_execution_role(event: Any, context: Any) -> dict[str, Any]:
    """Mint a token with the function's own credentials, as the product does, and ask the cluster who that is."""
    token = authenticator_token(token_sts_client(os.environ["AWS_REGION"]), os.environ["CLUSTER_ID"])
    status, user = whoami(os.environ["CLUSTER_URL"], token)
    return {"status": status, "user": user}
