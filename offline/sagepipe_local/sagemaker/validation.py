"""Request validation against botocore's model of the SageMaker API.

Checks what the service checks before doing anything: required members, string
lengths, enum values and the resource-name patterns. Messages follow the service's
"N validation errors detected: Value ... at 'path' failed to satisfy constraint" form.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StringShape, StructureShape

from sagepipe_local.sagemaker.errors import validation_exception

# Shapes whose patterns are plain Python regular expressions worth enforcing; other
# patterns in the model use Java-only syntax and only matter for fields we ignore.
_PATTERN_SHAPES = frozenset(
    {
        "TrainingJobName",
        "TransformJobName",
        "ProcessingJobName",
        "ModelName",
        "EndpointName",
        "EndpointConfigName",
        "VariantName",
        "S3Uri",
    }
)


@functools.cache
def sagemaker_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def validate_request(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException when `params` break the operation's input shape."""
    input_shape = sagemaker_model().operation_model(operation).input_shape
    if input_shape is None:
        return
    problems: list[str] = []
    _check(input_shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation_exception(f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, path, problems)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must be a list"
            )
            return
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", problems)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            problems.append(f"Value at '{path}' failed to satisfy constraint: Member must be a map")
            return
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}", problems)
    elif isinstance(shape, StringShape):
        _check_string(shape, value, path, problems)


def _check_structure(shape: StructureShape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: Member must be a structure"
        )
        return
    for required in shape.required_members:
        if value.get(required) is None:
            problems.append(
                f"Value null at '{_member_path(path, required)}' failed to satisfy constraint: "
                "Member must not be null"
            )
    for member, member_value in value.items():
        member_shape = shape.members.get(member)
        if member_shape is not None and member_value is not None:
            _check(member_shape, member_value, _member_path(path, member), problems)


def _check_string(shape: StringShape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"Value at '{path}' failed to satisfy constraint: Member must be a string")
        return
    metadata = shape.metadata
    maximum = metadata.get("max")
    if isinstance(maximum, int) and len(value) > maximum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {maximum}"
        )
    minimum = metadata.get("min")
    if isinstance(minimum, int) and len(value) < minimum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {minimum}"
        )
    enum = shape.enum
    if enum and value not in enum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(enum)}]"
        )
    pattern = metadata.get("pattern")
    if (
        shape.name in _PATTERN_SHAPES
        and isinstance(pattern, str)
        and _compiled(pattern).fullmatch(value) is None
    ):
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise validation_exception(message)
