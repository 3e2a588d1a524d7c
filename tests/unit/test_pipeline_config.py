"""pipeline.json merged over the stack defaults; every error names the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepipe.errors import ConfigError
from sagepipe.pipeline_config import PipelineConfig, PipelineDefaults, resolve_pipeline_config


def _raw(data: Any) -> bytes:
    return json.dumps(data).encode()


def _resolve(data: Any, defaults: PipelineDefaults | None = None) -> PipelineConfig:
    return resolve_pipeline_config(_raw(data), defaults or PipelineDefaults())


def test_absent_file_uses_stack_defaults() -> None:
    defaults = PipelineDefaults(
        target="price",
        algorithm="linear-learner",
        max_rmse=3.5,
        test_fraction=0.25,
        validation_fraction=0.0,
        seed=7,
    )
    config = resolve_pipeline_config(None, defaults)
    assert config.target == "price"
    assert config.algorithm == "linear-learner"
    assert config.max_rmse == 3.5
    assert config.test_fraction == 0.25
    assert config.validation_fraction == 0.0
    assert config.seed == 7
    assert config.hyperparameters == {}
    assert config.drop_columns == []
    assert config.categorical_columns == []


def test_file_overrides_defaults() -> None:
    defaults = PipelineDefaults(target="price", max_rmse=9.0)
    config = _resolve(
        {
            "target": "value",
            "algorithm": "linear-learner",
            "hyperparameters": {"epochs": 5, "use_bias": True, "optimizer": "adam", "lr": 0.1},
            "max_rmse": 2,
            "drop_columns": ["id"],
            "categorical_columns": ["zip"],
            "test_fraction": 0.3,
            "validation_fraction": 0.2,
            "seed": 0,
        },
        defaults,
    )
    assert config.target == "value"
    assert config.algorithm == "linear-learner"
    assert config.hyperparameters == {"epochs": 5, "use_bias": True, "optimizer": "adam", "lr": 0.1}
    assert config.max_rmse == 2.0
    assert isinstance(config.max_rmse, float)
    assert config.drop_columns == ["id"]
    assert config.categorical_columns == ["zip"]
    assert config.test_fraction == 0.3
    assert config.validation_fraction == 0.2
    assert config.seed == 0


def test_integer_fractions_are_accepted_as_numbers() -> None:
    config = _resolve({"target": "y", "validation_fraction": 0})
    assert config.validation_fraction == 0.0
    assert isinstance(config.validation_fraction, float)


def test_file_without_target_uses_default_target() -> None:
    config = _resolve({"seed": 1}, PipelineDefaults(target="price"))
    assert config.target == "price"
    assert config.seed == 1


def test_missing_target_names_the_key() -> None:
    with pytest.raises(ConfigError, match="'target' is missing"):
        resolve_pipeline_config(None, PipelineDefaults())
    with pytest.raises(ConfigError, match="'target' is missing"):
        _resolve({"algorithm": "xgboost"})


def test_error_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^s3://b/incoming/m/pipeline\.json: unknown key"):
        resolve_pipeline_config(
            _raw({"target": "y", "tagret": "y"}),
            PipelineDefaults(),
            source="s3://b/incoming/m/pipeline.json",
        )


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown key 'max_depth'"):
        _resolve({"target": "y", "max_depth": 3})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"target": 5}, "target"),
        ({"target": ""}, "target"),
        ({"target": "y", "algorithm": "random-forest"}, "algorithm"),
        ({"target": "y", "seed": "42"}, "seed"),
        ({"target": "y", "seed": 4.2}, "seed"),
        ({"target": "y", "seed": -1}, "seed"),
        ({"target": "y", "max_rmse": "1.0"}, "max_rmse"),
        ({"target": "y", "max_rmse": 0}, "max_rmse"),
        ({"target": "y", "test_fraction": True}, "test_fraction"),
        ({"target": "y", "test_fraction": "0.2"}, "test_fraction"),
        ({"target": "y", "test_fraction": 0}, "test_fraction"),
        ({"target": "y", "test_fraction": 0.5}, "test_fraction"),
        ({"target": "y", "validation_fraction": -0.1}, "validation_fraction"),
        ({"target": "y", "validation_fraction": 0.5}, "validation_fraction"),
        ({"target": "y", "drop_columns": "id"}, "drop_columns"),
        ({"target": "y", "categorical_columns": [1]}, "categorical_columns"),
        ({"target": "y", "hyperparameters": ["eta"]}, "hyperparameters"),
        ({"target": "y", "hyperparameters": {"eta": [0.1]}}, "hyperparameters.eta"),
        ({"target": "y", "hyperparameters": {"eta": None}}, "hyperparameters.eta"),
    ],
)
def test_wrong_type_or_value_names_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"key '{key}"):
        _resolve(data)


def test_fractions_must_leave_training_data() -> None:
    with pytest.raises(ConfigError) as raised:
        _resolve({"target": "y", "test_fraction": 0.4, "validation_fraction": 0.3})
    message = str(raised.value)
    assert "test_fraction" in message
    assert "validation_fraction" in message


def test_fractions_at_the_limit_are_accepted() -> None:
    config = _resolve({"target": "y", "test_fraction": 0.3, "validation_fraction": 0.3})
    assert config.test_fraction + config.validation_fraction == pytest.approx(0.6)


def test_target_cannot_be_dropped() -> None:
    with pytest.raises(ConfigError, match="drop_columns"):
        _resolve({"target": "y", "drop_columns": ["y"]})


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
def test_invalid_json(raw: bytes) -> None:
    with pytest.raises(ConfigError, match=r"pipeline\.json is not valid JSON"):
        resolve_pipeline_config(raw, PipelineDefaults(target="y"))


@pytest.mark.parametrize(("raw", "kind"), [(b"[]", "list"), (b'"x"', "str"), (b"3", "int")])
def test_file_must_hold_an_object(raw: bytes, kind: str) -> None:
    with pytest.raises(ConfigError, match=f"must hold a JSON object, not {kind}"):
        resolve_pipeline_config(raw, PipelineDefaults(target="y"))


def test_config_survives_a_json_round_trip() -> None:
    """Steps re-validate the config that preprocessing passed through Step Functions."""
    config = _resolve(
        {"target": "y", "max_rmse": 4, "hyperparameters": {"eta": 0.1, "flag": False}}
    )
    again = PipelineConfig.model_validate(json.loads(json.dumps(config.model_dump())))
    assert again == config


def test_config_is_frozen() -> None:
    config = _resolve({"target": "y"})
    with pytest.raises(ValueError, match="frozen"):
        config.target = "z"  # type: ignore[misc]
