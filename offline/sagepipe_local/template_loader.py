"""Read a CloudFormation / SAM template written in YAML, short-form tags included.

Short forms become the long JSON forms (`!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` ->
`{"Fn::GetAtt": ["A", "B"]}`, `!Sub ...` -> `{"Fn::Sub": ...}`), so the resolver only
deals with one shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_FUNCTION_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


class TemplateError(ValueError):
    """The template cannot be read or uses something the offline stack does not support."""


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation tags; dates stay strings as CloudFormation reads them."""


# CloudFormation reads `AWSTemplateFormatVersion: 2010-09-09` as a string, not a date.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")


def _function_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _construct_node(loader, node)}

    return construct


def _construct_ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _construct_node(loader, node)}


def _construct_condition(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _construct_node(loader, node)}


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        if not attribute:
            raise TemplateError(f"!GetAtt {value!r} needs the form LogicalId.Attribute")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {"Fn::GetAtt": value}


for _name in _FUNCTION_TAGS:
    _TemplateLoader.add_constructor(f"!{_name}", _function_constructor(_name))
_TemplateLoader.add_constructor("!Ref", _construct_ref)
_TemplateLoader.add_constructor("!Condition", _construct_condition)
_TemplateLoader.add_constructor("!GetAtt", _construct_get_att)


def parse_template(text: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_TemplateLoader)
    except yaml.YAMLError as error:
        raise TemplateError(f"invalid template YAML: {error}") from error
    if not isinstance(document, dict):
        raise TemplateError("a template must be a mapping")
    return document


def load_template(path: Path) -> dict[str, Any]:
    return parse_template(path.read_text(encoding="utf-8"))
