"""Declarative hyperparameter checks: hyperparameters arrive as strings, as in SageMaker."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sagepipe_local.sagemaker.algorithms.base import UserError


@dataclass(frozen=True)
class Interval:
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        left = "(" if self.low_open or self.low == -math.inf else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        return f"{left}{_bound(self.low)}, {_bound(self.high)}{right}"


def _bound(value: float) -> str:
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return str(int(value)) if value == int(value) else str(value)


@dataclass(frozen=True)
class Hyperparameter:
    """One accepted name. `parse` turns the string into a value or raises UserError."""

    name: str
    parse: Callable[[str, str], Any]
    required: bool = False


def integer(interval: Interval = Interval()) -> Callable[[str, str], int]:
    def parse(name: str, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            # "10.0" is accepted by the containers as 10.
            try:
                as_float = float(text)
            except ValueError as error:
                raise UserError(f"Hyperparameter {name}: {text!r} is not an integer") from error
            if not as_float.is_integer():
                raise UserError(f"Hyperparameter {name}: {text!r} is not an integer") from None
            value = int(as_float)
        if value not in interval:
            raise UserError(f"Hyperparameter {name}: value {value} not in range {interval}")
        return value

    return parse


def continuous(interval: Interval = Interval()) -> Callable[[str, str], float]:
    def parse(name: str, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError as error:
            raise UserError(f"Hyperparameter {name}: {text!r} is not a number") from error
        if math.isnan(value) or value not in interval:
            raise UserError(f"Hyperparameter {name}: value {value} not in range {interval}")
        return value

    return parse


def categorical(choices: Collection[str]) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        value = text.strip()
        if value not in choices:
            raise UserError(
                f"Hyperparameter {name}: value {value!r} not in range [{', '.join(choices)}]"
            )
        return value

    return parse


def comma_list(choices: Collection[str]) -> Callable[[str, str], list[str]]:
    def parse(name: str, text: str) -> list[str]:
        values = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [value for value in values if value not in choices]
        if unknown or not values:
            raise UserError(
                f"Hyperparameter {name}: value {text!r} not in range [{', '.join(choices)}]"
            )
        return values

    return parse


def free_text(name: str, text: str) -> str:
    """Accepted as given and passed through to the library, which checks it."""
    return text


def boolean_text(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise UserError(f"Hyperparameter {name}: value {text!r} not in range [true, false]")
    return value == "true"


def integer_or_auto(interval: Interval) -> Callable[[str, str], int | None]:
    """`auto` -> None (the algorithm decides), else an integer in the interval."""
    parse_integer = integer(interval)

    def parse(name: str, text: str) -> int | None:
        return None if text.strip().lower() == "auto" else parse_integer(name, text)

    return parse


def continuous_or_auto(interval: Interval) -> Callable[[str, str], float | None]:
    parse_float = continuous(interval)

    def parse(name: str, text: str) -> float | None:
        return None if text.strip().lower() == "auto" else parse_float(name, text)

    return parse


def boolean_or_auto(name: str, text: str) -> bool | None:
    return None if text.strip().lower() == "auto" else boolean_text(name, text)


def validate(specification: Collection[Hyperparameter], given: Mapping[str, str]) -> dict[str, Any]:
    """Typed values for the given names; UserError for unknown, missing or bad values."""
    by_name = {parameter.name: parameter for parameter in specification}
    for name in sorted(given):
        if name not in by_name:
            raise UserError(f"Extraneous hyperparameter found: {name}")
    for parameter in specification:
        if parameter.required and parameter.name not in given:
            raise UserError(f"Missing required hyperparameter: {parameter.name}")
    return {name: by_name[name].parse(name, str(text)) for name, text in given.items()}
