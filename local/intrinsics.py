"""CloudFormation intrinsics, offline: the YAML short forms and a resolver.

``local.template`` reads the SAM template with these; they know nothing of ChatFlow. The
resolver covers what a template of this size uses (Ref, Fn::Sub in both forms, Fn::GetAtt,
conditions with Fn::If/Equals/Not/And/Or, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap);
anything else is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

NO_VALUE: Any = object()  # what `Ref: AWS::NoValue` resolves to before it is dropped
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template, or the values given to resolve it, cannot describe a runnable stack."""


# --- YAML with CloudFormation short-form tags ------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that understands ``!Ref``, ``!Sub``, ``!GetAtt``... and keeps dates as text."""


CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


_FUNCTION_TAGS: tuple[str, ...] = (
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Join",
    "Select",
    "Split",
)
_FUNCTION_TAGS += ("FindInMap", "Base64", "ImportValue", "GetAZs", "Cidr", "Length", "ToJsonString")
_SHORT_FORMS = {"Ref": "Ref", "Condition": "Condition"} | {t: f"Fn::{t}" for t in _FUNCTION_TAGS}
for _short, _full in _SHORT_FORMS.items():
    CloudFormationLoader.add_constructor(f"!{_short}", _construct_intrinsic(_full))


# --- Intrinsic functions -------------------------------------------------------------


@dataclass(frozen=True)
class Resolver:
    """Evaluates intrinsic functions against known values.

    ``parameters`` holds parameter and pseudo-parameter values (``AWS::Region``...);
    ``refs`` the ``Ref`` value of resources; ``attributes`` the ``Fn::GetAtt`` values, keyed
    ``"LogicalId.Attribute"``. A reference with no value is an error that names it.
    """

    parameters: Mapping[str, Any]
    refs: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic evaluated; ``AWS::NoValue`` entries dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the template."""
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        result = self.resolve(self.conditions[name])
        if not isinstance(result, bool):
            raise TemplateError(f"condition {name!r} does not evaluate to true or false")
        return result

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"no value for Ref {name!r}")

    def _get_att(self, argument: Any) -> Any:
        target, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        key = f"{target}.{self.resolve(attribute)}"
        if key not in self.attributes:
            raise TemplateError(f"no value for Fn::GetAtt {key!r}")
        return self.attributes[key]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return scalar_text(values[name], name)
            if "." in name:
                return scalar_text(self._get_att(name), name)
            return scalar_text(self._ref(name), name)

        return _SUB_VARIABLE.sub(replace, text)

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return bool(scalar_text(left, "Fn::Equals") == scalar_text(right, "Fn::Equals"))

    def _not(self, argument: Any) -> bool:
        return not self._boolean(argument[0])

    def _and(self, argument: Any) -> bool:
        return all(self._boolean(item) for item in argument)

    def _or(self, argument: Any) -> bool:
        return any(self._boolean(item) for item in argument)

    def _boolean(self, value: Any) -> bool:
        result = self.resolve(value)
        if not isinstance(result, bool):
            raise TemplateError(f"expected a condition, got {result!r}")
        return result

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(scalar_text(item, "Fn::Join") for item in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = self.resolve(argument[0]), self.resolve(argument[1])
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError) as exc:
            raise TemplateError(f"Fn::Select index {index!r} out of range") from exc

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return scalar_text(self.resolve(text), "Fn::Split").split(delimiter)

    def _find_in_map(self, argument: Any) -> Any:
        name, first, second = (self.resolve(item) for item in argument)
        try:
            return self.mappings[name][first][second]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap has no {name}/{first}/{second}") from exc

    def _condition_ref(self, argument: Any) -> bool:
        return self.condition(argument)


_FUNCTIONS: Mapping[str, Callable[[Resolver, Any], Any]] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::If": Resolver._if,
    "Fn::Equals": Resolver._equals,
    "Fn::Not": Resolver._not,
    "Fn::And": Resolver._and,
    "Fn::Or": Resolver._or,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::FindInMap": Resolver._find_in_map,
    "Condition": Resolver._condition_ref,
}


def scalar_text(value: Any, where: str) -> str:
    """CloudFormation's view of a scalar as a string (numbers and booleans included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {type(value).__name__}")


def parameter_values(
    template: Mapping[str, Any], supplied: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, str]:
    """Defaults merged with the supplied values, checked as CloudFormation checks them.

    Error messages name the parameter, never its value: some of them are secrets.
    """
    declared: Mapping[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(supplied) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
    values = dict(pseudo)
    for name, spec in declared.items():
        if name in supplied:
            value = str(supplied[name])
        elif "Default" in spec:
            value = scalar_text(spec["Default"], name)
        else:
            raise TemplateError(f"parameter {name} has no value and no default")
        _check_parameter(name, spec, value)
        values[name] = value
    return values


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    if "AllowedValues" in spec and value not in [
        scalar_text(v, name) for v in spec["AllowedValues"]
    ]:
        raise TemplateError(f"parameter {name} is not one of its allowed values")
    if len(value) < int(spec.get("MinLength", 0)):
        raise TemplateError(f"parameter {name} is shorter than {spec['MinLength']} characters")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise TemplateError(f"parameter {name} does not match its pattern")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError as exc:
            raise TemplateError(f"parameter {name} is not a number") from exc
        if number < float(spec.get("MinValue", number)) or number > float(
            spec.get("MaxValue", number)
        ):
            raise TemplateError(f"parameter {name} is out of range")


def referenced_ids(value: Any) -> set[str]:
    """Logical ids that a value points at through Ref, Fn::GetAtt or Fn::Sub variables."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.split(".", 1)[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                names = _SUB_VARIABLE.findall(text)
                found |= {n.split(".", 1)[0] for n in names if not n.startswith("!")}
                if not isinstance(item, str):
                    found |= referenced_ids(item[1])
            else:
                found |= referenced_ids(item)
    return found
