"""Resolve the CloudFormation intrinsic functions CDK emits, against already-created resources."""

import re
from collections.abc import Mapping
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvedReference(KeyError):
    """A reference to a resource that has not been created (yet)."""


class Resolver:
    def __init__(self, *, account: str, region: str, partition: str = "aws", stack_name: str) -> None:
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::NoValue": None,
        }
        self.refs: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value if item != {"Ref": "AWS::NoValue"}]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._attribute(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(part) for part in self.resolve(parts))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"intrinsic {key} is not supported by the local deployer")
        return {key: self.resolve(item) for key, item in value.items()}

    def references(self, value: Any) -> set[str]:
        """Logical ids a value depends on."""
        found: set[str] = set()
        if isinstance(value, list):
            for item in value:
                found |= self.references(item)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if key == "Ref" and isinstance(item, str) and not item.startswith("AWS::"):
                    found.add(item)
                elif key == "Fn::GetAtt":
                    found.add(item[0] if isinstance(item, list) else item.split(".", 1)[0])
                elif key == "Fn::Sub":
                    template = item if isinstance(item, str) else item[0]
                    found |= {m.split(".", 1)[0] for m in _SUB_VARIABLE.findall(template) if not m.startswith("AWS::")}
                    if isinstance(item, list):
                        found |= self.references(item[1])
                else:
                    found |= self.references(item)
        return found

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.refs:
            raise UnresolvedReference(name)
        return self.refs[name]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attributes:
            raise UnresolvedReference(f"{logical_id}.{attribute}")
        return self.attributes[(logical_id, attribute)]

    def _sub(self, arg: Any) -> str:
        template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._attribute(logical_id, attribute)
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, template)
