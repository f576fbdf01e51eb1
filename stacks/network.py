"""Private API servers: the functions that talk to Kubernetes API servers placed in the clusters' VPC.

Settings come from CDK context (`cdk.json` lists, or comma-separated strings from `-c key=a,b`) and are
validated here, at synth; a bad or incomplete combination fails it with `InvalidNetworkSettings` naming the key:

- clusterVpcId, clusterSubnetIds, clusterSecurityGroupIds: all three or none. With them, exactly the
  cluster-facing functions (the steps and cleanup groups marked `cluster` in kops_lambda/workflow.py, the
  Spot handler and canary) run in those subnets with those security groups; without them, no function is in a VPC.
- clusterVpcEndpoints ("false"): "true" also creates the VPC endpoints those functions need when the
  subnets have no NAT (INTERFACE_ENDPOINTS, IAM_ENDPOINT, GATEWAY_ENDPOINTS below), in the same subnets,
  behind a security group of their own.
- clusterRouteTableIds: the subnets' route tables, for the DynamoDB and S3 gateway endpoints; required
  with clusterVpcEndpoints=true and only meaningful with it.

Everything is referenced by id, without context lookups: the synth needs no AWS credentials.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from kops_lambda.constants import PRODUCT
from stacks.context import InvalidContext, parse_list

VPC_KEY = "clusterVpcId"
SUBNETS_KEY = "clusterSubnetIds"
SECURITY_GROUPS_KEY = "clusterSecurityGroupIds"
ENDPOINTS_KEY = "clusterVpcEndpoints"
ROUTE_TABLES_KEY = "clusterRouteTableIds"
CONTEXT_KEYS = (VPC_KEY, SUBNETS_KEY, SECURITY_GROUPS_KEY, ENDPOINTS_KEY, ROUTE_TABLES_KEY)

# Lambda's VpcConfig limits.
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
_ID_PREFIXES = {VPC_KEY: "vpc", SUBNETS_KEY: "subnet", SECURITY_GROUPS_KEY: "sg", ROUTE_TABLES_KEY: "rtb"}
HTTPS = 443

# IAM's only PrivateLink endpoint (com.amazonaws.iam) is in the region of its control plane.
IAM_ENDPOINT_REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoint:
    name: str
    service: ec2.IInterfaceVpcEndpointService | ec2.IGatewayVpcEndpointService
    reason: str


# What the cluster-facing functions call besides the API servers (read from their handlers). Left out on
# purpose: Logs and CloudWatch (Lambda's service writes the function's logs, EMF metrics are log lines), X-Ray
# (segments go over UDP to the daemon Lambda runs and relays itself), KMS (Secrets Manager decrypts on its own
# side), SQS (Lambda's service polls the Spot queue; the handler returns its batch failures), Lambda (called
# only by InFlight, outside the VPC).
INTERFACE_ENDPOINTS = (
    Endpoint(
        "Sts",
        ec2.InterfaceVpcEndpointAwsService.STS,
        "GetCallerIdentity (account and partition) of the onboarding and cleanup steps",
    ),
    Endpoint(
        "SecretsManager",
        ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        "kubeconfigs, drainer credentials, the agent API key and the secrets the steps write",
    ),
    Endpoint(
        "Ec2",
        ec2.InterfaceVpcEndpointAwsService.EC2,
        "ValidateCluster's discovery, RecordBaseline's key pairs, the Spot handler's DescribeInstances",
    ),
    Endpoint(
        "AutoScaling",
        ec2.InterfaceVpcEndpointAwsService.AUTOSCALING,
        "ValidateCluster's discovery, the Spot handler's early replacement (DetachInstances)",
    ),
    Endpoint(
        "StepFunctions",
        ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
        "RecordBaseline's lease takeover (DescribeExecution of the holder)",
    ),
)
IAM_ENDPOINT = Endpoint(
    "Iam",
    ec2.InterfaceVpcEndpointAwsService.IAM,
    f"ValidateCluster's and RecordBaseline's IAM reads (only in {IAM_ENDPOINT_REGION})",
)
GATEWAY_ENDPOINTS = (
    Endpoint(
        "DynamoDb",
        ec2.GatewayVpcEndpointAwsService.DYNAMODB,
        "the registry (every cluster-facing function), the Spot handler's idempotency table",
    ),
    Endpoint("S3", ec2.GatewayVpcEndpointAwsService.S3, "ValidateCluster and MapIdentity read the kOps state store"),
)


class InvalidNetworkSettings(ValueError):
    """A cluster network context setting is malformed or incomplete (the message names the key)."""


@dataclass(frozen=True)
class ClusterNetworkSettings:
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    vpc_endpoints: bool = False
    route_table_ids: tuple[str, ...] = ()


def cluster_network_settings(scope: Construct) -> ClusterNetworkSettings | None:
    """The settings from context, None when none is given; a bad value fails the synth."""
    return network_settings_from({key: scope.node.try_get_context(key) for key in CONTEXT_KEYS})


def network_settings_from(values: Mapping[str, object]) -> ClusterNetworkSettings | None:
    """Validate settings given by context key (unset: None)."""
    vpc_endpoints = _flag(ENDPOINTS_KEY, values.get(ENDPOINTS_KEY))
    id_keys = (VPC_KEY, SUBNETS_KEY, SECURITY_GROUPS_KEY, ROUTE_TABLES_KEY)
    given = {key for key in id_keys if values.get(key) is not None}
    if not given and not vpc_endpoints:
        return None
    placement = (VPC_KEY, SUBNETS_KEY, SECURITY_GROUPS_KEY)
    missing = [key for key in placement if key not in given]
    if missing:
        reason = f"with {', '.join(sorted(given))}" if given else f"with {ENDPOINTS_KEY}=true"
        raise InvalidNetworkSettings(
            f"{', '.join(missing)}: required {reason} (the cluster-facing functions need a VPC, subnets and "
            "security groups)"
        )
    route_tables = _ids(ROUTE_TABLES_KEY, values.get(ROUTE_TABLES_KEY)) if ROUTE_TABLES_KEY in given else ()
    if vpc_endpoints and not route_tables:
        raise InvalidNetworkSettings(
            f"{ROUTE_TABLES_KEY}: required with {ENDPOINTS_KEY}=true (the DynamoDB and S3 gateway endpoints go "
            "on the subnets' route tables)"
        )
    if route_tables and not vpc_endpoints:
        raise InvalidNetworkSettings(f"{ROUTE_TABLES_KEY}: only used with {ENDPOINTS_KEY}=true")
    (vpc_id,) = _ids(VPC_KEY, values[VPC_KEY], most=1)
    return ClusterNetworkSettings(
        vpc_id=vpc_id,
        subnet_ids=_ids(SUBNETS_KEY, values[SUBNETS_KEY], most=MAX_SUBNETS),
        security_group_ids=_ids(SECURITY_GROUPS_KEY, values[SECURITY_GROUPS_KEY], most=MAX_SECURITY_GROUPS),
        vpc_endpoints=vpc_endpoints,
        route_table_ids=route_tables,
    )


def _flag(key: str, value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise InvalidNetworkSettings(f"{key}: expected true or false, got {value!r}")
    return text == "true"


def _ids(key: str, value: object, *, most: int | None = None) -> tuple[str, ...]:
    """Resource ids from a list (cdk.json), a JSON list or a comma-separated string (`-c key=a,b`)."""
    try:
        ids = tuple(parse_list(key, value))
    except InvalidContext as error:
        raise InvalidNetworkSettings(str(error)) from None
    prefix = _ID_PREFIXES[key]
    pattern = re.compile(rf"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})")
    if not ids:
        raise InvalidNetworkSettings(f"{key}: at least one {prefix}-… id is required")
    if most is not None and len(ids) > most:
        raise InvalidNetworkSettings(f"{key}: at most {most}, got {len(ids)}")
    malformed = [item for item in ids if not pattern.fullmatch(item)]
    if malformed:
        raise InvalidNetworkSettings(f"{key}: not {prefix}-<8 or 17 hex digits>: {', '.join(malformed)}")
    if len(set(ids)) != len(ids):
        raise InvalidNetworkSettings(f"{key}: an id is given twice")
    return ids


def network_interface_statements(
    ec2_arn: str, subnet_ids: Sequence[str], security_group_ids: Sequence[str]
) -> list[iam.PolicyStatement]:
    """What Lambda needs of a VPC function's role to manage its network interfaces (the EC2 actions of
    AWSLambdaVPCAccessExecutionRole), scoped where EC2 allows it.

    `ec2_arn`: `arn:<partition>:ec2:<region>:<account>`."""
    interfaces = f"{ec2_arn}:network-interface/*"
    return [
        iam.PolicyStatement(
            sid="DescribeNetworkInterfaces",
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            resources=["*"],  # Describe* supports no resource-level permissions.
        ),
        iam.PolicyStatement(
            sid="CreateNetworkInterfacesInClusterSubnets",
            actions=["ec2:CreateNetworkInterface"],
            resources=[
                interfaces,
                *(f"{ec2_arn}:subnet/{subnet}" for subnet in subnet_ids),
                *(f"{ec2_arn}:security-group/{group}" for group in security_group_ids),
            ],
        ),
        iam.PolicyStatement(
            # Lambda deletes and re-addresses the interfaces it made; their ids are known only at run time.
            sid="ManageNetworkInterfaces",
            actions=["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            resources=[interfaces],
        ),
    ]


class ClusterNetwork(Construct):
    """The clusters' VPC, subnets and security groups (by id), and the opt-in endpoints."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: ClusterNetworkSettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        stack = Stack.of(self)
        # Availability zones are never read: Lambda and the L1 endpoints take subnet ids.
        self.vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=settings.vpc_id, availability_zones=stack.availability_zones
        )
        self.subnet_selection = ec2.SubnetSelection(
            subnets=[
                ec2.Subnet.from_subnet_id(self, f"Subnet{index}", subnet_id)
                for index, subnet_id in enumerate(settings.subnet_ids)
            ]
        )
        # Not ours: CDK adds no rule to them.
        self.security_groups = [
            ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{index}", group_id, mutable=False)
            for index, group_id in enumerate(settings.security_group_ids)
        ]
        self.endpoints: dict[str, ec2.CfnVPCEndpoint] = {}
        if settings.vpc_endpoints:
            self._add_endpoints()

    def grant_network_interfaces(self, role: iam.IRole) -> None:
        stack = Stack.of(self)
        ec2_arn = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}"
        for statement in network_interface_statements(
            ec2_arn, self.settings.subnet_ids, self.settings.security_group_ids
        ):
            role.add_to_principal_policy(statement)

    def _add_endpoints(self) -> None:
        # L1 endpoints: the L2 needs each subnet's availability zone (one subnet per zone), which only a
        # context lookup would know. AWS refuses two subnets of one zone at deploy time instead.
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description=f"{PRODUCT}: HTTPS to the VPC endpoints from the cluster-facing functions only",
            allow_all_outbound=False,
        )
        for group_id in self.settings.security_group_ids:
            self.endpoint_security_group.add_ingress_rule(
                ec2.Peer.security_group_id(group_id), ec2.Port.tcp(HTTPS), f"HTTPS from {group_id}"
            )
        for endpoint in (*INTERFACE_ENDPOINTS, IAM_ENDPOINT):
            self.endpoints[endpoint.name] = ec2.CfnVPCEndpoint(
                self,
                f"{endpoint.name}Endpoint",
                vpc_id=self.settings.vpc_id,
                service_name=endpoint.service.name,
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=list(self.settings.subnet_ids),
                security_group_ids=[self.endpoint_security_group.security_group_id],
            )
        in_iam_region = CfnCondition(
            self, "InIamEndpointRegion", expression=Fn.condition_equals(Aws.REGION, IAM_ENDPOINT_REGION)
        )
        self.endpoints[IAM_ENDPOINT.name].cfn_options.condition = in_iam_region
        for endpoint in GATEWAY_ENDPOINTS:
            self.endpoints[endpoint.name] = ec2.CfnVPCEndpoint(
                self,
                f"{endpoint.name}Endpoint",
                vpc_id=self.settings.vpc_id,
                service_name=endpoint.service.name,
                vpc_endpoint_type="Gateway",
                route_table_ids=list(self.settings.route_table_ids),
            )


def cluster_network(scope: Construct, construct_id: str) -> ClusterNetwork | None:
    """The cluster network of the context settings, or None (no function in a VPC)."""
    settings = cluster_network_settings(scope)
    return ClusterNetwork(scope, construct_id, settings=settings) if settings else None
