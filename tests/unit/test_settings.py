"""Per-function settings parsed from an environment mapping."""

from __future__ import annotations

import pytest

from sagepipe.errors import ConfigError
from sagepipe.settings import CommonSettings, PredictSettings
from sagepipe.step_settings import (
    DeploySettings,
    JobStatusSettings,
    NotifySettings,
    PreprocessFunctionSettings,
    StartRunSettings,
    TrainingSettings,
    TransformSettings,
)

BASE = {"DATA_BUCKET": "sagepipe-data", "RESOURCE_PREFIX": "sp"}
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def env(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def test_common_settings() -> None:
    settings = CommonSettings.from_env(BASE)
    assert settings == CommonSettings(data_bucket="sagepipe-data", resource_prefix="sp")


@pytest.mark.parametrize("prefix", [None, "", "   "])
def test_common_default_prefix(prefix: str | None) -> None:
    values = {"DATA_BUCKET": "b"}
    if prefix is not None:
        values["RESOURCE_PREFIX"] = prefix
    assert CommonSettings.from_env(values).resource_prefix == "sagepipe"


def test_common_values_are_stripped() -> None:
    settings = CommonSettings.from_env({"DATA_BUCKET": " b ", "RESOURCE_PREFIX": " sp "})
    assert settings == CommonSettings(data_bucket="b", resource_prefix="sp")


@pytest.mark.parametrize("bucket", [None, "", "  "])
def test_common_requires_data_bucket(bucket: str | None) -> None:
    values = {} if bucket is None else {"DATA_BUCKET": bucket}
    with pytest.raises(ConfigError, match="DATA_BUCKET"):
        CommonSettings.from_env(values)


def test_common_rejects_long_prefix() -> None:
    CommonSettings.from_env(env(RESOURCE_PREFIX="p" * 30))
    with pytest.raises(ConfigError, match="RESOURCE_PREFIX"):
        CommonSettings.from_env(env(RESOURCE_PREFIX="p" * 31))


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_BUCKET", "from-environ")
    monkeypatch.setenv("RESOURCE_PREFIX", "envp")
    assert CommonSettings.from_env() == CommonSettings("from-environ", "envp")


def test_start_run_settings() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline"
    settings = StartRunSettings.from_env(env(STATE_MACHINE_ARN=arn, POLL_SECONDS="5"))
    assert settings.state_machine_arn == arn
    assert settings.poll_seconds == 5
    assert settings.common.data_bucket == "sagepipe-data"
    assert StartRunSettings.from_env(env(STATE_MACHINE_ARN=arn)).poll_seconds == 10


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({}, "STATE_MACHINE_ARN"),
        ({"STATE_MACHINE_ARN": "arn", "POLL_SECONDS": "soon"}, "POLL_SECONDS"),
        ({"STATE_MACHINE_ARN": "arn", "POLL_SECONDS": "0"}, "POLL_SECONDS"),
        ({"STATE_MACHINE_ARN": "arn", "POLL_SECONDS": "1.5"}, "POLL_SECONDS"),
    ],
)
def test_start_run_rejects(extra: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        StartRunSettings.from_env(env(**extra))


def test_preprocess_defaults() -> None:
    settings = PreprocessFunctionSettings.from_env(BASE)
    defaults = settings.defaults
    assert defaults.target is None
    assert defaults.algorithm == "xgboost"
    assert defaults.max_rmse is None
    assert defaults.test_fraction == 0.2
    assert defaults.validation_fraction == 0.1
    assert defaults.seed == 42
    assert settings.max_categories == 20
    assert settings.min_rows == 20


def test_preprocess_parses_every_variable() -> None:
    settings = PreprocessFunctionSettings.from_env(
        env(
            DEFAULT_TARGET="price",
            DEFAULT_ALGORITHM="linear-learner",
            DEFAULT_MAX_RMSE="1.5",
            TEST_FRACTION="0.25",
            VALIDATION_FRACTION="0",
            SEED="7",
            MAX_CATEGORIES="5",
            MIN_ROWS="2",
        )
    )
    defaults = settings.defaults
    assert defaults.target == "price"
    assert defaults.algorithm == "linear-learner"
    assert defaults.max_rmse == 1.5
    assert defaults.test_fraction == 0.25
    assert defaults.validation_fraction == 0.0
    assert defaults.seed == 7
    assert settings.max_categories == 5
    assert settings.min_rows == 2


def test_preprocess_empty_strings_mean_defaults() -> None:
    """CloudFormation passes an empty parameter (DefaultTarget "") as an empty string."""
    settings = PreprocessFunctionSettings.from_env(
        env(DEFAULT_TARGET="", DEFAULT_ALGORITHM="", DEFAULT_MAX_RMSE="")
    )
    assert settings.defaults.target is None
    assert settings.defaults.algorithm == "xgboost"
    assert settings.defaults.max_rmse is None


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"DEFAULT_ALGORITHM": "random-forest"}, "DEFAULT_ALGORITHM"),
        ({"DEFAULT_MAX_RMSE": "low"}, "DEFAULT_MAX_RMSE"),
        ({"TEST_FRACTION": "a fifth"}, "TEST_FRACTION"),
        ({"VALIDATION_FRACTION": "x"}, "VALIDATION_FRACTION"),
        ({"SEED": "0x2a"}, "SEED"),
        ({"SEED": "-1"}, "SEED"),
        ({"MAX_CATEGORIES": "0"}, "MAX_CATEGORIES"),
        ({"MIN_ROWS": "1"}, "MIN_ROWS"),
        ({"DATA_BUCKET": ""}, "DATA_BUCKET"),
    ],
)
def test_preprocess_rejects(extra: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        PreprocessFunctionSettings.from_env(env(**extra))


def test_training_settings() -> None:
    settings = TrainingSettings.from_env(
        env(
            SAGEMAKER_ROLE_ARN=ROLE,
            TRAINING_INSTANCE_TYPE="ml.c5.xlarge",
            TRAINING_MAX_RUNTIME_SECONDS="600",
            USE_SPOT_TRAINING="true",
        )
    )
    assert settings.role_arn == ROLE
    assert settings.instance_type == "ml.c5.xlarge"
    assert settings.max_runtime_seconds == 600
    assert settings.use_spot is True


def test_training_defaults() -> None:
    settings = TrainingSettings.from_env(env(SAGEMAKER_ROLE_ARN=ROLE))
    assert settings.instance_type == "ml.m5.large"
    assert settings.max_runtime_seconds == 3600
    assert settings.use_spot is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("", False)],
)
def test_training_spot_flag(value: str, expected: bool) -> None:
    settings = TrainingSettings.from_env(env(SAGEMAKER_ROLE_ARN=ROLE, USE_SPOT_TRAINING=value))
    assert settings.use_spot is expected


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({}, "SAGEMAKER_ROLE_ARN"),
        ({"SAGEMAKER_ROLE_ARN": ROLE, "TRAINING_MAX_RUNTIME_SECONDS": "59"}, "TRAINING_MAX"),
        ({"SAGEMAKER_ROLE_ARN": ROLE, "TRAINING_MAX_RUNTIME_SECONDS": "1h"}, "TRAINING_MAX"),
    ],
)
def test_training_rejects(extra: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        TrainingSettings.from_env(env(**extra))


def test_transform_settings() -> None:
    settings = TransformSettings.from_env(
        env(SAGEMAKER_ROLE_ARN=ROLE, TRANSFORM_INSTANCE_TYPE="ml.c5.large")
    )
    assert settings.role_arn == ROLE
    assert settings.instance_type == "ml.c5.large"
    assert TransformSettings.from_env(env(SAGEMAKER_ROLE_ARN=ROLE)).instance_type == "ml.m5.large"
    with pytest.raises(ConfigError, match="SAGEMAKER_ROLE_ARN"):
        TransformSettings.from_env(BASE)


def test_deploy_settings() -> None:
    settings = DeploySettings.from_env(
        env(ENDPOINT_INSTANCE_TYPE="ml.t2.medium", ENDPOINT_INSTANCE_COUNT="2")
    )
    assert settings.instance_type == "ml.t2.medium"
    assert settings.instance_count == 2
    defaults = DeploySettings.from_env(BASE)
    assert defaults.instance_type == "ml.m5.large"
    assert defaults.instance_count == 1


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_deploy_rejects_instance_count(count: str) -> None:
    with pytest.raises(ConfigError, match="ENDPOINT_INSTANCE_COUNT"):
        DeploySettings.from_env(env(ENDPOINT_INSTANCE_COUNT=count))


def test_notify_settings() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:sagepipe"
    assert NotifySettings.from_env(env(TOPIC_ARN=arn)).topic_arn == arn
    with pytest.raises(ConfigError, match="TOPIC_ARN"):
        NotifySettings.from_env(BASE)


def test_predict_settings() -> None:
    settings = PredictSettings.from_env(env(MAX_RECORDS="100", LIVE_CACHE_SECONDS="0"))
    assert settings.max_records == 100
    assert settings.live_cache_seconds == 0
    defaults = PredictSettings.from_env(BASE)
    assert defaults.max_records == 10_000
    assert defaults.live_cache_seconds == 5
    with pytest.raises(ConfigError, match="MAX_RECORDS"):
        PredictSettings.from_env(env(MAX_RECORDS="0"))
    with pytest.raises(ConfigError, match="LIVE_CACHE_SECONDS"):
        PredictSettings.from_env(env(LIVE_CACHE_SECONDS="-5"))


def test_a_zero_fraction_from_the_stack_is_kept_for_validation_to_judge() -> None:
    settings = PreprocessFunctionSettings.from_env(
        {**BASE, "TEST_FRACTION": "0", "VALIDATION_FRACTION": "0"}
    )
    assert settings.defaults.test_fraction == 0.0  # rejected when the run resolves it
    assert settings.defaults.validation_fraction == 0.0  # a valid choice: no validation


def test_job_status_settings() -> None:
    assert JobStatusSettings.from_env({"STATUS_WAIT_SECONDS": "45"}).wait_seconds == 45
    assert JobStatusSettings.from_env({}).wait_seconds == 0
    with pytest.raises(ConfigError, match="STATUS_WAIT_SECONDS"):
        JobStatusSettings.from_env({"STATUS_WAIT_SECONDS": "-1"})
