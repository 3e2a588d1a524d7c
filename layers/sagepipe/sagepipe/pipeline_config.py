"""pipeline.json: a model's settings, merged over the stack's defaults.

Every key is optional in the file; the stack parameters provide the defaults. Unknown
keys, wrong types and a missing target are ConfigErrors that name the key.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sagepipe.errors import ConfigError

Algorithm = Literal["xgboost", "linear-learner"]
HyperparameterValue = str | int | float | bool


class PipelineDefaults(BaseModel):
    """The stack-wide defaults (template parameters, passed as environment)."""

    model_config = ConfigDict(frozen=True)

    target: str | None = None
    algorithm: Algorithm = "xgboost"
    max_rmse: float | None = None
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    seed: int = 42


class PipelineConfig(BaseModel):
    """The resolved settings of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    target: str = Field(min_length=1)
    algorithm: Algorithm = "xgboost"
    hyperparameters: dict[str, HyperparameterValue] = Field(default_factory=dict)
    max_rmse: float | None = Field(default=None, gt=0)
    drop_columns: list[str] = Field(default_factory=list)
    categorical_columns: list[str] = Field(default_factory=list)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    validation_fraction: float = Field(default=0.1, ge=0, lt=0.5)
    seed: int = Field(default=42, ge=0)

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> PipelineConfig:
        if self.test_fraction + self.validation_fraction > 0.6:
            raise ValueError("test_fraction + validation_fraction must be at most 0.6")
        if self.target in self.drop_columns:
            raise ValueError(f"drop_columns contains the target {self.target!r}")
        return self


def resolve_pipeline_config(
    raw: bytes | None, defaults: PipelineDefaults, source: str = "pipeline.json"
) -> PipelineConfig:
    """Parse the user's pipeline.json (None when absent) over the stack defaults."""
    user: dict[str, Any] = {}
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{source} is not valid JSON: {error}") from error
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source} must hold a JSON object, not {type(loaded).__name__}")
        user = loaded
    merged: dict[str, Any] = {
        key: value for key, value in defaults.model_dump().items() if value is not None
    }
    merged.update(user)
    if "target" not in merged:
        raise ConfigError(
            f"{source}: key 'target' is missing and the stack has no DefaultTarget: "
            "name the column to predict"
        )
    for key in ("test_fraction", "validation_fraction", "max_rmse"):
        if isinstance(merged.get(key), int) and not isinstance(merged.get(key), bool):
            merged[key] = float(merged[key])
    try:
        return PipelineConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from error


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(file)"
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            parts.append(f"key {key!r}: {item['msg']}")
    return "; ".join(parts)
