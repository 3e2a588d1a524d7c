"""The hyperparameters the built-in Linear Learner accepts (names and ranges)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sagepipe_local.sagemaker.algorithms.base import UserError
from sagepipe_local.sagemaker.algorithms.hyperparameters import (
    Hyperparameter,
    Interval,
    boolean_or_auto,
    boolean_text,
    categorical,
    continuous,
    continuous_or_auto,
    free_text,
    integer,
    integer_or_auto,
    validate,
)

POSITIVE = Interval(low=0, low_open=True)
AT_LEAST_ZERO = Interval(low=0)
AT_LEAST_ONE = Interval(low=1)
LOSSES = (
    "auto",
    "squared_loss",
    "absolute_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
    "quantile_loss",
    "huber_loss",
    "logistic",
    "softmax_loss",
    "hinge_loss",
)

SPECIFICATION = (
    Hyperparameter(
        "predictor_type",
        categorical(("binary_classifier", "multiclass_classifier", "regressor")),
        required=True,
    ),
    Hyperparameter("feature_dim", integer_or_auto(AT_LEAST_ONE)),
    Hyperparameter("mini_batch_size", integer(AT_LEAST_ONE)),
    Hyperparameter("epochs", integer(AT_LEAST_ONE)),
    Hyperparameter("learning_rate", continuous_or_auto(POSITIVE)),
    Hyperparameter("l1", continuous_or_auto(AT_LEAST_ZERO)),
    Hyperparameter("wd", continuous_or_auto(AT_LEAST_ZERO)),
    Hyperparameter("use_bias", boolean_text),
    Hyperparameter("num_models", integer_or_auto(AT_LEAST_ONE)),
    Hyperparameter("num_calibration_samples", integer(AT_LEAST_ONE)),
    Hyperparameter("init_method", categorical(("uniform", "normal", "xavier"))),
    Hyperparameter("init_scale", continuous(POSITIVE)),
    Hyperparameter("init_sigma", continuous(POSITIVE)),
    Hyperparameter("init_bias", continuous()),
    Hyperparameter("optimizer", categorical(("auto", "sgd", "adam", "rmsprop"))),
    Hyperparameter("loss", categorical(LOSSES)),
    Hyperparameter("margin", continuous(AT_LEAST_ZERO)),
    Hyperparameter("quantile", continuous(Interval(0, 1, True, True))),
    Hyperparameter("loss_insensitivity", continuous(POSITIVE)),
    Hyperparameter("huber_delta", continuous(POSITIVE)),
    Hyperparameter("momentum", continuous_or_auto(Interval(0, 1, False, True))),
    Hyperparameter("beta_1", continuous_or_auto(Interval(0, 1, False, True))),
    Hyperparameter("beta_2", continuous_or_auto(Interval(0, 1, False, True))),
    Hyperparameter("bias_lr_mult", continuous_or_auto(POSITIVE)),
    Hyperparameter("bias_wd_mult", continuous_or_auto(AT_LEAST_ZERO)),
    Hyperparameter("use_lr_scheduler", boolean_text),
    Hyperparameter("lr_scheduler_step", integer_or_auto(AT_LEAST_ONE)),
    Hyperparameter("lr_scheduler_factor", continuous_or_auto(Interval(0, 1, True, True))),
    Hyperparameter("lr_scheduler_minimum_lr", continuous_or_auto(POSITIVE)),
    Hyperparameter("normalize_data", boolean_text),
    Hyperparameter("normalize_label", boolean_or_auto),
    Hyperparameter("unbias_data", boolean_or_auto),
    Hyperparameter("unbias_label", boolean_or_auto),
    Hyperparameter("num_point_for_scaler", integer(AT_LEAST_ONE)),
    Hyperparameter("early_stopping_patience", integer(AT_LEAST_ONE)),
    Hyperparameter("early_stopping_tolerance", continuous(POSITIVE)),
    # Classification-only settings: accepted by name, irrelevant to the regressor.
    Hyperparameter("accuracy_top_k", free_text),
    Hyperparameter("f_beta", free_text),
    Hyperparameter("balance_multiclass_weights", free_text),
    Hyperparameter("target_precision", free_text),
    Hyperparameter("target_recall", free_text),
    Hyperparameter("binary_classifier_model_selection_criteria", free_text),
    Hyperparameter("positive_example_weight_mult", free_text),
    Hyperparameter("num_classes", free_text),
    Hyperparameter("_tuning_objective_metric", free_text),
    Hyperparameter("_kvstore", free_text),
    Hyperparameter("_num_gpus", free_text),
    Hyperparameter("_num_kv_servers", free_text),
    Hyperparameter("_log_level", free_text),
)


@dataclass(frozen=True)
class LinearLearnerSettings:
    feature_dim: int | None
    epochs: int
    l1: float
    wd: float
    use_bias: bool
    normalize_data: bool
    normalize_label: bool


def validate_linear_learner_hyperparameters(given: Mapping[str, str]) -> LinearLearnerSettings:
    try:
        values = validate(SPECIFICATION, given)
    except UserError as error:
        raise UserError(
            "Unable to initialize the algorithm. Failed to validate input hyperparameters. "
            f"(caused by ValidationError) Caused by: {error}"
        ) from error
    if values["predictor_type"] != "regressor":
        raise UserError(
            f"predictor_type {values['predictor_type']} is not supported by the offline emulator; "
            "only regressor is"
        )
    loss = values.get("loss", "auto")
    if loss not in ("auto", "squared_loss"):
        raise UserError(f"loss {loss} is not supported by the offline emulator; use squared_loss")
    normalize_label = values.get("normalize_label")
    return LinearLearnerSettings(
        feature_dim=values.get("feature_dim"),
        epochs=values.get("epochs", 15),
        # `auto` tunes these on the real service; offline they mean no regularisation.
        l1=values.get("l1") or 0.0,
        wd=values.get("wd") or 0.0,
        use_bias=values.get("use_bias", True),
        normalize_data=values.get("normalize_data", True),
        normalize_label=True if normalize_label is None else normalize_label,
    )
