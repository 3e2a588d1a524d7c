"""The hyperparameters the SageMaker XGBoost container accepts, with its ranges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagepipe_local.sagemaker.algorithms.base import UserError
from sagepipe_local.sagemaker.algorithms.hyperparameters import (
    Hyperparameter,
    Interval,
    categorical,
    comma_list,
    continuous,
    free_text,
    integer,
    validate,
)

OBJECTIVES = (
    "binary:hinge",
    "binary:logistic",
    "binary:logitraw",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:map",
    "rank:ndcg",
    "rank:pairwise",
    "reg:absoluteerror",
    "reg:gamma",
    "reg:linear",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:quantileerror",
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
)
EVAL_METRICS = (
    "rmse",
    "rmsle",
    "mae",
    "mape",
    "mphe",
    "logloss",
    "error",
    "merror",
    "mlogloss",
    "auc",
    "aucpr",
    "ndcg",
    "map",
    "poisson-nloglik",
    "gamma-nloglik",
    "cox-nloglik",
    "gamma-deviance",
    "tweedie-nloglik",
    "aft-nloglik",
    "interval-regression-accuracy",
)

AT_LEAST_ZERO = Interval(low=0)
UNIT_OPEN_LOW = Interval(low=0, high=1, low_open=True)
UNIT = Interval(low=0, high=1)

SPECIFICATION = (
    Hyperparameter("num_round", integer(Interval(low=1)), required=True),
    Hyperparameter("early_stopping_rounds", integer(Interval(low=1))),
    Hyperparameter("csv_weights", integer(Interval(low=0, high=1))),
    Hyperparameter("booster", categorical(("gbtree", "gblinear", "dart"))),
    Hyperparameter("verbosity", integer(Interval(low=0, high=3))),
    Hyperparameter("nthread", integer(Interval(low=1))),
    Hyperparameter("eta", continuous(UNIT)),
    Hyperparameter("gamma", continuous(AT_LEAST_ZERO)),
    Hyperparameter("max_depth", integer(AT_LEAST_ZERO)),
    Hyperparameter("min_child_weight", continuous(AT_LEAST_ZERO)),
    Hyperparameter("max_delta_step", continuous(AT_LEAST_ZERO)),
    Hyperparameter("subsample", continuous(UNIT_OPEN_LOW)),
    Hyperparameter("colsample_bytree", continuous(UNIT_OPEN_LOW)),
    Hyperparameter("colsample_bylevel", continuous(UNIT_OPEN_LOW)),
    Hyperparameter("colsample_bynode", continuous(UNIT_OPEN_LOW)),
    Hyperparameter("lambda", continuous(AT_LEAST_ZERO)),
    Hyperparameter("alpha", continuous(AT_LEAST_ZERO)),
    Hyperparameter("tree_method", categorical(("auto", "exact", "approx", "hist", "gpu_hist"))),
    Hyperparameter(
        "sketch_eps", continuous(Interval(low=0, high=1, low_open=True, high_open=True))
    ),
    Hyperparameter("scale_pos_weight", continuous(Interval(low=0, low_open=True))),
    Hyperparameter("updater", free_text),
    Hyperparameter("dsplit", categorical(("row", "col"))),
    Hyperparameter("refresh_leaf", integer(Interval(low=0, high=1))),
    Hyperparameter("process_type", categorical(("default", "update"))),
    Hyperparameter("grow_policy", categorical(("depthwise", "lossguide"))),
    Hyperparameter("max_leaves", integer(AT_LEAST_ZERO)),
    Hyperparameter("max_bin", integer(AT_LEAST_ZERO)),
    Hyperparameter("predictor", categorical(("auto", "cpu_predictor", "gpu_predictor"))),
    Hyperparameter("monotone_constraints", free_text),
    Hyperparameter("interaction_constraints", free_text),
    Hyperparameter("sample_type", categorical(("uniform", "weighted"))),
    Hyperparameter("normalize_type", categorical(("tree", "forest"))),
    Hyperparameter("rate_drop", continuous(UNIT)),
    Hyperparameter("one_drop", integer(Interval(low=0, high=1))),
    Hyperparameter("skip_drop", continuous(UNIT)),
    Hyperparameter("lambda_bias", continuous(UNIT)),
    Hyperparameter("tweedie_variance_power", continuous(Interval(1, 2, True, True))),
    Hyperparameter("objective", categorical(OBJECTIVES)),
    Hyperparameter("num_class", integer(Interval(low=2))),
    Hyperparameter("base_score", continuous(AT_LEAST_ZERO)),
    Hyperparameter("eval_metric", comma_list(EVAL_METRICS)),
    Hyperparameter("seed", integer(Interval(-(2**31), 2**31 - 1, True, True))),
    Hyperparameter("num_parallel_tree", integer(Interval(low=1))),
    Hyperparameter("save_model_on_termination", categorical(("true", "false"))),
    Hyperparameter("aft_loss_distribution", categorical(("normal", "logistic", "extreme"))),
    Hyperparameter("aft_loss_distribution_scale", continuous(Interval(low=0, low_open=True))),
    Hyperparameter("deterministic_histogram", categorical(("true", "false"))),
    Hyperparameter("sampling_method", categorical(("uniform", "gradient_based"))),
    Hyperparameter("huber_slope", continuous(Interval(low=0, low_open=True))),
    Hyperparameter("quantile_alpha", free_text),
    Hyperparameter("_tuning_objective_metric", free_text),
    Hyperparameter("_kfold", integer(Interval(low=2))),
    Hyperparameter("_num_cv_round", integer(Interval(low=1))),
)

# Names the container consumes itself; everything else goes to xgboost.train's params.
CONTAINER_ONLY = frozenset(
    {
        "num_round",
        "early_stopping_rounds",
        "csv_weights",
        "save_model_on_termination",
        "_tuning_objective_metric",
        "_kfold",
        "_num_cv_round",
    }
)
MAX_THREADS = 2


def validate_xgboost_hyperparameters(given: Mapping[str, str]) -> dict[str, Any]:
    values = validate(SPECIFICATION, given)
    objective = values.get("objective", "reg:squarederror")
    if objective.startswith("multi:") and "num_class" not in values:
        raise UserError("Require input for parameter 'num_class' for multi-classification")
    if "num_class" in values and not objective.startswith("multi:"):
        raise UserError(
            "Do not need to setup parameter 'num_class' for learning task other than "
            "multi-classification."
        )
    metrics = values.get("eval_metric", [])
    if "auc" in metrics and not objective.startswith(("binary:", "rank:")):
        raise UserError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "_kfold" in values or "_num_cv_round" in values:
        raise UserError("cross-validation (_kfold) is not supported by the offline emulator")
    return values


def booster_params(values: Mapping[str, Any], cpu_count: int) -> dict[str, Any]:
    """xgboost.train params from validated hyperparameters, threads capped for the emulator."""
    params = {name: value for name, value in values.items() if name not in CONTAINER_ONLY}
    params.setdefault("objective", "reg:squarederror")
    if params["objective"] == "reg:linear":
        params["objective"] = "reg:squarederror"  # the deprecated alias, as the container maps it
    if params.get("tree_method") == "gpu_hist":
        params["tree_method"] = "hist"
    params.pop("predictor", None)  # removed from XGBoost 2; CPU prediction is the only kind here
    params["nthread"] = max(1, min(int(params.get("nthread", MAX_THREADS)), MAX_THREADS, cpu_count))
    params.setdefault("verbosity", 0)
    return params
