"""Create a synthesized CDK stack's resources in the local AWS (moto), straight from cdk.out.

moto's CloudFormation would put state machines where they never execute, so each resource type
we synthesize is created through its own service API, with intrinsics resolved from what was
created before it. Unknown resource types fail loudly: the local system must not drift silently
from the stack.
"""

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from kops_local.intrinsics import Resolver

ClientFactory = Callable[[str], Any]

# Name length limits of the services we create named resources in.
_NAME_LIMITS = {
    "lambda": 64, "iam": 64, "sqs": 80, "states": 80, "events": 64, "dynamodb": 255, "logs": 512,
    "sns": 256, "cloudwatch": 255,
}  # fmt: skip
_IGNORED_TYPES = frozenset({"AWS::CDK::Metadata"})
LAMBDA_SOURCE = Path(__file__).resolve().parents[1] / "lambdas" / "kops_lambda"


@dataclass
class DeployedStack:
    stack_name: str
    region: str
    account: str
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, str]:
        """Logical id -> Ref value of every resource of a type."""
        return {lid: self.refs[lid] for lid, kind in self.types.items() if kind == resource_type}


def physical_name(stack_name: str, logical_id: str, service: str) -> str:
    """Deterministic names like CloudFormation's: stack-logicalid, shortened with a hash to fit."""
    name = f"{stack_name}-{logical_id}"
    limit = _NAME_LIMITS[service]
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def deploy_template(
    template_path: Path, *, clients: ClientFactory, stack_name: str, region: str, account: str
) -> DeployedStack:
    template = json.loads(template_path.read_text())
    resources: dict[str, Any] = template["Resources"]
    resolver = Resolver(account=account, region=region, stack_name=stack_name)
    deployed = DeployedStack(stack_name=stack_name, region=region, account=account)
    graph = {
        lid: {dep for dep in resolver.references(res) | set(_depends_on(res)) if dep in resources}
        for lid, res in resources.items()
    }
    creator = _Creator(clients=clients, stack_name=stack_name, region=region, account=account)
    for logical_id in TopologicalSorter(graph).static_order():
        resource = resources[logical_id]
        kind = resource["Type"]
        if kind in _IGNORED_TYPES:
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        ref, attrs = creator.create(kind, logical_id, props)
        resolver.refs[logical_id] = ref
        for name, value in attrs.items():
            resolver.attributes[(logical_id, name)] = value
        deployed.types[logical_id] = kind
    deployed.refs = dict(resolver.refs)
    deployed.attributes = dict(resolver.attributes)
    deployed.outputs = {name: str(resolver.resolve(out["Value"])) for name, out in template.get("Outputs", {}).items()}
    return deployed


def _depends_on(resource: dict[str, Any]) -> list[str]:
    depends = resource.get("DependsOn", [])
    return [depends] if isinstance(depends, str) else list(depends)


class _Creator:
    def __init__(self, *, clients: ClientFactory, stack_name: str, region: str, account: str) -> None:
        self.clients = clients
        self.stack_name = stack_name
        self.region = region
        self.account = account
        self._handlers: dict[str, Callable[[str, dict[str, Any]], tuple[str, dict[str, str]]]] = {
            "AWS::IAM::Role": self._role,
            "AWS::IAM::Policy": self._policy,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::Lambda::Permission": self._permission,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Events::Rule": self._rule,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
        }

    def create(self, kind: str, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        handler = self._handlers.get(kind)
        if handler is None:
            raise NotImplementedError(f"{logical_id}: resource type {kind} is not supported by the local deployer")
        return handler(logical_id, props)

    def _name(self, props: dict[str, Any], key: str, logical_id: str, service: str) -> str:
        return str(props.get(key) or physical_name(self.stack_name, logical_id, service))

    def _role(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        iam = self.clients("iam")
        name = self._name(props, "RoleName", logical_id, "iam")
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            Tags=props.get("Tags", []),
        )["Role"]
        for arn in props.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for inline in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=inline["PolicyName"],
                PolicyDocument=json.dumps(inline["PolicyDocument"]),
            )
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _policy(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        iam = self.clients("iam")
        for role in props.get("Roles", []):
            iam.put_role_policy(
                RoleName=role,
                PolicyName=props["PolicyName"],
                PolicyDocument=json.dumps(props["PolicyDocument"]),
            )
        return str(props["PolicyName"]), {}

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        kms = self.clients("kms")
        options: dict[str, Any] = {
            "Description": props.get("Description", ""),
            "Tags": [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])],
        }
        if "KeyPolicy" in props:
            options["Policy"] = json.dumps(props["KeyPolicy"])
        key = kms.create_key(**options)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        return str(key["KeyId"]), {"Arn": key["Arn"], "KeyId": key["KeyId"]}

    def _kms_alias(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        self.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return str(props["AliasName"]), {}

    def _table(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        dynamodb = self.clients("dynamodb")
        name = self._name(props, "TableName", logical_id, "dynamodb")
        table = dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            Tags=props.get("Tags", []),
        )["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        return name, {"Arn": table["TableArn"]}

    def _queue(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        sqs = self.clients("sqs")
        name = self._name(props, "QueueName", logical_id, "sqs")
        attributes = {
            key: json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for key, value in props.items()
            if key not in {"QueueName", "Tags"}
        }
        url = sqs.create_queue(
            QueueName=name, Attributes=attributes, tags={t["Key"]: t["Value"] for t in props.get("Tags", [])}
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return str(url), {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _queue_policy(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        for url in props["Queues"]:
            self.clients("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        return logical_id, {}

    def _log_group(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        logs = self.clients("logs")
        name = self._name(props, "LogGroupName", logical_id, "logs")
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        arn = f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}:*"
        return name, {"Arn": arn}

    def _function(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = self._name(props, "FunctionName", logical_id, "lambda")
        config = {
            "FunctionName": name,
            "Runtime": props["Runtime"],
            "Role": props["Role"],
            "Handler": props["Handler"],
            # The local runtime imports the handler from this environment; the zip only records the source.
            "Code": {"ZipFile": _source_zip()},
            "Description": props.get("Description", ""),
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
            "Environment": props.get("Environment", {"Variables": {}}),
            "Architectures": props.get("Architectures", ["x86_64"]),
            "TracingConfig": props.get("TracingConfig", {"Mode": "PassThrough"}),
            "Tags": {t["Key"]: t["Value"] for t in props.get("Tags", [])},
        }
        function = self.clients("lambda").create_function(**config)
        return name, {"Arn": function["FunctionArn"]}

    def _permission(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        source = {"SourceArn": props["SourceArn"]} if "SourceArn" in props else {}
        self.clients("lambda").add_permission(
            FunctionName=props["FunctionName"],
            StatementId=logical_id,
            Action=props["Action"],
            Principal=props["Principal"],
            **source,
        )
        return logical_id, {}

    def _event_source_mapping(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        mapping = self.clients("lambda").create_event_source_mapping(
            EventSourceArn=props["EventSourceArn"],
            FunctionName=props["FunctionName"],
            BatchSize=int(props.get("BatchSize", 10)),
            FunctionResponseTypes=props.get("FunctionResponseTypes", []),
            Enabled=props.get("Enabled", True),
        )
        return str(mapping["UUID"]), {}

    def _state_machine(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = self._name(props, "StateMachineName", logical_id, "states")
        arn = self.clients("stepfunctions").create_state_machine(
            name=name,
            definition=props["DefinitionString"],
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        return str(arn), {"Name": name, "Arn": arn}

    def _topic(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = self._name(props, "TopicName", logical_id, "sns")
        attributes = {"DisplayName": str(props.get("DisplayName", ""))}
        if props.get("KmsMasterKeyId"):
            attributes["KmsMasterKeyId"] = str(props["KmsMasterKeyId"])
        arn = self.clients("sns").create_topic(Name=name, Attributes=attributes, Tags=props.get("Tags", []))["TopicArn"]
        return str(arn), {"TopicArn": arn, "TopicName": name}

    def _topic_policy(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        for arn in props["Topics"]:
            self.clients("sns").set_topic_attributes(
                TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )
        return logical_id, {}

    def _subscription(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        arn = self.clients("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )["SubscriptionArn"]
        return str(arn), {}

    def _alarm(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = self._name(props, "AlarmName", logical_id, "cloudwatch")
        keys = (
            "AlarmDescription", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period",
            "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions",
        )  # fmt: skip
        options = {key: props[key] for key in keys if key in props}
        if "Dimensions" in props:
            options["Dimensions"] = props["Dimensions"]
        for number in ("Period", "EvaluationPeriods"):
            if number in options:
                options[number] = int(options[number])
        if "Threshold" in options:
            options["Threshold"] = float(options["Threshold"])
        self.clients("cloudwatch").put_metric_alarm(AlarmName=name, **options)
        return name, {"Arn": f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}"}

    def _dashboard(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        name = self._name(props, "DashboardName", logical_id, "cloudwatch")
        body = props["DashboardBody"]
        self.clients("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=body if isinstance(body, str) else json.dumps(body)
        )
        return name, {}

    def _rule(self, logical_id: str, props: dict[str, Any]) -> tuple[str, dict[str, str]]:
        events = self.clients("events")
        name = self._name(props, "Name", logical_id, "events")
        rule: dict[str, Any] = {
            "Name": name,
            "State": props.get("State", "ENABLED"),
            "Description": props.get("Description", ""),
        }
        # A rule has a pattern, a schedule (LocalAws.fire_scheduled_rule runs it), or both.
        if "EventPattern" in props:
            rule["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            rule["ScheduleExpression"] = props["ScheduleExpression"]
        arn = events.put_rule(**rule)["RuleArn"]
        targets = props.get("Targets", [])
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        return name, {"Arn": arn}


def _source_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(LAMBDA_SOURCE.rglob("*.py")):
            archive.write(path, str(path.relative_to(LAMBDA_SOURCE.parent)))
    return buffer.getvalue()
