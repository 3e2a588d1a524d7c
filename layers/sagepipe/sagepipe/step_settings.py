"""Settings of the pipeline's step functions, parsed and validated once from the
environment (see sagepipe.settings for the shared ones and the readers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sagepipe.errors import ConfigError
from sagepipe.settings import (
    CommonSettings,
    bool_env,
    float_env,
    int_env,
    require_env,
    text_env,
)

if TYPE_CHECKING:
    from sagepipe.pipeline_config import PipelineDefaults


@dataclass(frozen=True)
class StartRunSettings:
    common: CommonSettings
    state_machine_arn: str
    poll_seconds: int
    # Inputs above this size preprocess in a SageMaker Processing job; None: never.
    processing_threshold_mb: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StartRunSettings:
        env = os.environ if env is None else env
        threshold = float_env(env, "PROCESSING_THRESHOLD_MB", None)
        if threshold is not None and threshold < 0:
            raise ConfigError(f"environment variable PROCESSING_THRESHOLD_MB={threshold} is < 0")
        return cls(
            common=CommonSettings.from_env(env),
            state_machine_arn=require_env(env, "STATE_MACHINE_ARN"),
            poll_seconds=int_env(env, "POLL_SECONDS", 10, minimum=1),
            processing_threshold_mb=threshold,
        )


@dataclass(frozen=True)
class PreprocessFunctionSettings:
    common: CommonSettings
    defaults: PipelineDefaults
    max_categories: int
    min_rows: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PreprocessFunctionSettings:
        # pydantic is imported here, not at module level: the predict function's cold
        # start must not pay for it.
        from sagepipe.pipeline_config import PipelineDefaults

        env = os.environ if env is None else env
        algorithm = text_env(env, "DEFAULT_ALGORITHM", "xgboost")
        if algorithm not in ("xgboost", "linear-learner"):
            raise ConfigError(f"DEFAULT_ALGORITHM {algorithm!r} is not xgboost or linear-learner")
        defaults = PipelineDefaults(
            target=text_env(env, "DEFAULT_TARGET", None),
            algorithm=algorithm,  # type: ignore[arg-type]
            max_rmse=float_env(env, "DEFAULT_MAX_RMSE", None),
            test_fraction=float_env(env, "TEST_FRACTION", 0.2),
            validation_fraction=float_env(env, "VALIDATION_FRACTION", 0.1),
            seed=int_env(env, "SEED", 42),
        )
        return cls(
            common=CommonSettings.from_env(env),
            defaults=defaults,
            max_categories=int_env(env, "MAX_CATEGORIES", 20, minimum=1),
            min_rows=int_env(env, "MIN_ROWS", 20, minimum=2),
        )


@dataclass(frozen=True)
class StartProcessingSettings:
    """The preprocess settings (the job runs the same preprocessing) plus the job's own."""

    preprocess: PreprocessFunctionSettings
    role_arn: str
    instance_type: str  # "auto": sized from the input (sagepipe.processing)
    max_runtime_seconds: int

    @property
    def common(self) -> CommonSettings:
        return self.preprocess.common

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StartProcessingSettings:
        env = os.environ if env is None else env
        instance_type = text_env(env, "PROCESSING_INSTANCE_TYPE", "auto")
        if instance_type != "auto" and not instance_type.startswith("ml."):
            raise ConfigError(
                f"PROCESSING_INSTANCE_TYPE {instance_type!r} is not 'auto' or an ml.* type"
            )
        return cls(
            preprocess=PreprocessFunctionSettings.from_env(env),
            role_arn=require_env(env, "SAGEMAKER_ROLE_ARN"),
            instance_type=instance_type,
            max_runtime_seconds=int_env(env, "PROCESSING_MAX_RUNTIME_SECONDS", 14_400, minimum=60),
        )


@dataclass(frozen=True)
class TrainingSettings:
    common: CommonSettings
    role_arn: str
    instance_type: str
    max_runtime_seconds: int
    use_spot: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainingSettings:
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env(env),
            role_arn=require_env(env, "SAGEMAKER_ROLE_ARN"),
            instance_type=text_env(env, "TRAINING_INSTANCE_TYPE", "ml.m5.large"),
            max_runtime_seconds=int_env(env, "TRAINING_MAX_RUNTIME_SECONDS", 3600, minimum=60),
            use_spot=bool_env(env, "USE_SPOT_TRAINING"),
        )


@dataclass(frozen=True)
class TransformSettings:
    common: CommonSettings
    role_arn: str
    instance_type: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TransformSettings:
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env(env),
            role_arn=require_env(env, "SAGEMAKER_ROLE_ARN"),
            instance_type=text_env(env, "TRANSFORM_INSTANCE_TYPE", "ml.m5.large"),
        )


@dataclass(frozen=True)
class DeploySettings:
    common: CommonSettings
    instance_type: str
    instance_count: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploySettings:
        env = os.environ if env is None else env
        return cls(
            common=CommonSettings.from_env(env),
            instance_type=text_env(env, "ENDPOINT_INSTANCE_TYPE", "ml.m5.large"),
            instance_count=int_env(env, "ENDPOINT_INSTANCE_COUNT", 1, minimum=1),
        )


@dataclass(frozen=True)
class JobStatusSettings:
    # How long one status check may wait for the job to leave RUNNING; 0: one look.
    wait_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JobStatusSettings:
        env = os.environ if env is None else env
        return cls(wait_seconds=int_env(env, "STATUS_WAIT_SECONDS", 0))


@dataclass(frozen=True)
class NotifySettings:
    common: CommonSettings
    topic_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if env is None else env
        return cls(common=CommonSettings.from_env(env), topic_arn=require_env(env, "TOPIC_ARN"))
