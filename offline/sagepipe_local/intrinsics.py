"""Evaluate CloudFormation intrinsic functions and conditions against known values."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sagepipe_local.template_loader import TemplateError


class _NoValue:
    """`AWS::NoValue`: the property (or list item) it stands for is removed."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


class UnresolvableError(TemplateError):
    """A reference to something the offline stack does not know a value for."""


@dataclass
class ResourceHandle:
    """What `Ref` and `Fn::GetAtt` answer for one resource."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"})


class Resolver:
    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo_parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        resources: Mapping[str, ResourceHandle],
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo_parameters
        self._conditions = conditions
        self._mappings = mappings
        self._resources = resources
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- conditions ---------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self._truth(self.resolve(self._conditions[name]), name)
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    @staticmethod
    def _truth(value: Any, where: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise TemplateError(f"{where}: expected a boolean, got {value!r}")

    # -- values -------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                    return self._intrinsic(key, argument)
            resolved_map: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self.resolve(item)
                if resolved is not NO_VALUE:
                    resolved_map[key] = resolved
            return resolved_map
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        return value

    def ref(self, name: str) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._resources:
            return self._resources[name].ref
        raise UnresolvableError(f"Ref {name!r}: no parameter or supported resource of that name")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        handle = self._resources.get(logical_id)
        if handle is None:
            raise UnresolvableError(f"GetAtt {logical_id}.{attribute}: unknown resource")
        if attribute not in handle.attributes:
            raise UnresolvableError(f"GetAtt {logical_id}.{attribute}: attribute not emulated")
        return handle.attributes[attribute]

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self.ref(self._text(self.resolve(argument), "Ref"))
        if key in _CONDITION_FUNCTIONS:
            return self._condition_function(key, argument)
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise UnresolvableError(f"{key} is not supported offline")
        return handler(self, argument)

    def _condition_function(self, key: str, argument: Any) -> bool:
        if key == "Condition":
            return self.condition(self._text(argument, "Condition"))
        items = self._list(argument, key)
        if key == "Fn::Equals":
            if len(items) != 2:
                raise TemplateError("Fn::Equals takes two values")
            left, right = (self._scalar_text(self.resolve(item)) for item in items)
            return bool(left == right)
        truths = [self._truth(self.resolve(item), key) for item in items]
        if key == "Fn::Not":
            if len(truths) != 1:
                raise TemplateError("Fn::Not takes one condition")
            return not truths[0]
        if key == "Fn::And":
            return all(truths)
        return any(truths)

    @staticmethod
    def _scalar_text(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    @staticmethod
    def _text(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise TemplateError(f"{where}: expected a string, got {value!r}")
        return value

    @staticmethod
    def _list(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise TemplateError(f"{where}: expected a list, got {value!r}")
        return value

    # -- Fn:: functions -----------------------------------------------------------------

    def _fn_if(self, argument: Any) -> Any:
        items = self._list(argument, "Fn::If")
        if len(items) != 3:
            raise TemplateError("Fn::If takes [condition, value-if-true, value-if-false]")
        chosen = items[1] if self.condition(self._text(items[0], "Fn::If")) else items[2]
        return self.resolve(chosen)

    def _fn_sub(self, argument: Any) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list):
            if len(argument) != 2 or not isinstance(argument[1], dict):
                raise TemplateError("Fn::Sub takes a string or [string, {variables}]")
            text = self._text(argument[0], "Fn::Sub")
            variables = {name: self.resolve(value) for name, value in argument[1].items()}
        else:
            text = self._text(argument, "Fn::Sub")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name not in self._pseudo:
                logical_id, _, attribute = name.partition(".")
                value = self.get_att(logical_id, attribute)
            else:
                value = self.ref(name)
            return str(self._scalar_text(value))

        return _SUB_VARIABLE.sub(replace, text)

    def _fn_get_att(self, argument: Any) -> Any:
        items = self._list(argument, "Fn::GetAtt")
        if len(items) != 2:
            raise TemplateError("Fn::GetAtt takes [LogicalId, Attribute]")
        logical_id = self._text(items[0], "Fn::GetAtt")
        attribute = self._text(self.resolve(items[1]), "Fn::GetAtt")
        return self.get_att(logical_id, attribute)

    def _fn_join(self, argument: Any) -> str:
        items = self._list(argument, "Fn::Join")
        if len(items) != 2:
            raise TemplateError("Fn::Join takes [delimiter, [values]]")
        delimiter = self._text(items[0], "Fn::Join")
        values = self._list(self.resolve(items[1]), "Fn::Join")
        return delimiter.join(str(self._scalar_text(v)) for v in values)

    def _fn_select(self, argument: Any) -> Any:
        items = self._list(argument, "Fn::Select")
        if len(items) != 2:
            raise TemplateError("Fn::Select takes [index, [values]]")
        index = int(self.resolve(items[0]))
        values = self._list(self.resolve(items[1]), "Fn::Select")
        if not 0 <= index < len(values):
            raise TemplateError(f"Fn::Select index {index} out of range")
        return values[index]

    def _fn_split(self, argument: Any) -> list[str]:
        items = self._list(argument, "Fn::Split")
        if len(items) != 2:
            raise TemplateError("Fn::Split takes [delimiter, string]")
        delimiter = self._text(items[0], "Fn::Split")
        return self._text(self.resolve(items[1]), "Fn::Split").split(delimiter)

    def _fn_find_in_map(self, argument: Any) -> Any:
        items = self._list(argument, "Fn::FindInMap")
        if len(items) < 3:
            raise TemplateError("Fn::FindInMap takes [map, top-level key, second-level key]")
        names = [self._scalar_text(self.resolve(item)) for item in items[:3]]
        try:
            return self._mappings[names[0]][names[1]][names[2]]
        except (KeyError, TypeError) as error:
            raise TemplateError(f"Fn::FindInMap {names}: no such entry") from error

    def _fn_base64(self, argument: Any) -> str:
        text = self._text(self.resolve(argument), "Fn::Base64")
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def _fn_get_azs(self, argument: Any) -> list[str]:
        region = self.resolve(argument) or self._pseudo["AWS::Region"]
        return [f"{region}{suffix}" for suffix in "abc"]

    def _fn_to_json_string(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))

    def _fn_length(self, argument: Any) -> int:
        return len(self._list(self.resolve(argument), "Fn::Length"))


_FUNCTIONS: Final[dict[str, Any]] = {
    "Fn::If": Resolver._fn_if,
    "Fn::Sub": Resolver._fn_sub,
    "Fn::GetAtt": Resolver._fn_get_att,
    "Fn::Join": Resolver._fn_join,
    "Fn::Select": Resolver._fn_select,
    "Fn::Split": Resolver._fn_split,
    "Fn::FindInMap": Resolver._fn_find_in_map,
    "Fn::Base64": Resolver._fn_base64,
    "Fn::GetAZs": Resolver._fn_get_azs,
    "Fn::ToJsonString": Resolver._fn_to_json_string,
    "Fn::Length": Resolver._fn_length,
}
