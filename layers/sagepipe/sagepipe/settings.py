"""Settings parsed and validated once from the environment: the readers of one
variable, the settings every function shares and the predict function's.

The template sets these variables (see docs/design.md); nothing else in the code base
reads os.environ. The pipeline steps' settings are in sagepipe.step_settings, apart, so
the predict function's cold start does not build their classes (~1 ms each).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

from sagepipe.errors import ConfigError
from sagepipe.naming import PREFIX_MAX


@overload
def text_env(env: Mapping[str, str], name: str, default: str) -> str: ...
@overload
def text_env(env: Mapping[str, str], name: str, default: None) -> str | None: ...
def text_env(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """The variable's value without surrounding blanks; `default` when unset or blank."""
    return env.get(name, "").strip() or default


def require_env(env: Mapping[str, str], name: str) -> str:
    value = text_env(env, name, None)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set")
    return value


def int_env(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from error
    if value < minimum:
        raise ConfigError(f"environment variable {name}={value} is below {minimum}")
    return value


@overload
def float_env(env: Mapping[str, str], name: str, default: float) -> float: ...
@overload
def float_env(env: Mapping[str, str], name: str, default: None) -> float | None: ...
def float_env(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise ConfigError(f"environment variable {name}={raw!r} is not a number") from error


def bool_env(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class CommonSettings:
    data_bucket: str
    resource_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CommonSettings:
        env = os.environ if env is None else env
        prefix = text_env(env, "RESOURCE_PREFIX", "sagepipe")
        if len(prefix) > PREFIX_MAX:
            raise ConfigError(f"RESOURCE_PREFIX {prefix!r} is longer than {PREFIX_MAX}")
        return cls(data_bucket=require_env(env, "DATA_BUCKET"), resource_prefix=prefix)


@dataclass(frozen=True)
class PredictSettings:
    common: CommonSettings
    max_records: int
    live_cache_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PredictSettings:
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env(env),
            max_records=int_env(env, "MAX_RECORDS", 10_000, minimum=1),
            live_cache_seconds=int_env(env, "LIVE_CACHE_SECONDS", 5),
        )
