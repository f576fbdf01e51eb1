"""Find the deployed product in an account (real AWS or the local system) by its documented defaults."""

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from kops_lambda.constants import AGENT_API_KEY_SECRET_NAME, ENV_SPOT_REGIONS, kubeconfig_secret_name

STACK_NAME = "KopsOnboard"
# CloudFormation and the local deployer both keep the logical id in physical names.
STATE_MACHINE_MARKERS = {"onboard": "OnboardingStateMachine", "offboard": "OffboardingStateMachine"}
REGISTRY_MARKER = "ClusterRegistry"
SPOT_HANDLER_MARKER = "SpotHandlerFunction"
VALIDATE_MARKER = "ValidateCluster"


class NotDeployed(LookupError):
    """The stack, or one of its resources, is not where the defaults say."""


@dataclass(frozen=True)
class Deployment:
    """Clients for one region, with the usual credential/profile/region conventions and AWS_ENDPOINT_URL."""

    region: str | None = None

    def client(self, service: str) -> Any:
        session: Any = boto3.session.Session(region_name=self.region)
        return session.client(service)

    @property
    def region_name(self) -> str:
        return str(self.client("sts").meta.region_name)

    def state_machine(self, purpose: str) -> str:
        marker = STATE_MACHINE_MARKERS[purpose]
        output = self._stack_output(f"{marker.replace('StateMachine', '')}StateMachineArn")
        if output:
            return output
        pages = self.client("stepfunctions").get_paginator("list_state_machines").paginate()
        found = [m["stateMachineArn"] for page in pages for m in page["stateMachines"] if marker in m["name"]]
        if len(found) != 1:
            raise NotDeployed(f"{len(found)} state machines named like *{marker}*; pass --state-machine ARN")
        return str(found[0])

    def registry_table(self) -> str:
        output = self._stack_output("RegistryTableName")
        if output:
            return output
        pages = self.client("dynamodb").get_paginator("list_tables").paginate()
        found = [name for page in pages for name in page["TableNames"] if REGISTRY_MARKER in name]
        if len(found) != 1:
            raise NotDeployed(f"{len(found)} tables named like *{REGISTRY_MARKER}*; is the stack deployed?")
        return str(found[0])

    def spot_handler_function(self) -> str:
        output = self._stack_output("SpotHandlerFunctionName")
        if output:
            return output
        pages = self.client("lambda").get_paginator("list_functions").paginate()
        names = [f["FunctionName"] for page in pages for f in page["Functions"]]
        found = [name for name in names if SPOT_HANDLER_MARKER in name]
        if len(found) != 1:
            raise NotDeployed(f"{len(found)} functions named like *{SPOT_HANDLER_MARKER}*; is the stack deployed?")
        return str(found[0])

    def spot_regions(self) -> list[str]:
        """The regions the deployment's Spot rules cover (context spotRegions), its own first."""
        output = self._stack_output("SpotRegions")
        if output is None:
            # The local system (or a stack from before the output): what ValidateCluster checks against.
            pages = self.client("lambda").get_paginator("list_functions").paginate()
            found = [f for page in pages for f in page["Functions"] if VALIDATE_MARKER in f["FunctionName"]]
            if len(found) != 1:
                raise NotDeployed(f"{len(found)} functions named like *{VALIDATE_MARKER}*; is the stack deployed?")
            # Unset: the deployment's own region alone, as ValidateCluster reads it.
            output = found[0].get("Environment", {}).get("Variables", {}).get(ENV_SPOT_REGIONS) or self.region_name
        return str(output).split(",")

    def kubeconfig_secret(self, cluster_name: str) -> str:
        return self._secret_arn(kubeconfig_secret_name(cluster_name), "--kubeconfig-secret")

    def agent_api_key_secret(self) -> str:
        return self._secret_arn(AGENT_API_KEY_SECRET_NAME, "--agent-api-key-secret")

    def _secret_arn(self, name: str, flag: str) -> str:
        try:
            return str(self.client("secretsmanager").describe_secret(SecretId=name)["ARN"])
        except ClientError as exc:
            raise NotDeployed(f"no secret named {name}; create it or pass {flag} ARN") from exc

    def _stack_output(self, key: str) -> str | None:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
        except (ClientError, BotoCoreError):
            return None  # the local system deploys without CloudFormation
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return outputs.get(key)
