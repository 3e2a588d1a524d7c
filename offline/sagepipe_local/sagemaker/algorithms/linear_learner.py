"""The built-in Linear Learner (image `linear-learner:1`), regressor only, with numpy.

Fits squared loss with optional L2 (`wd`, closed form) or L1 (`l1`, proximal gradient)
on standardised features and label, then stores the model back in the original units.

The artifact is `model.tar.gz` holding `model_algo-1` like the real one, but its content
is this emulator's JSON (`sagepipe-linear-learner`), not the real MXNet parameters: only
this emulator can serve it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sagepipe_local.sagemaker.algorithms.base import (
    AlgorithmError,
    ChannelData,
    FloatArray,
    PayloadError,
    TrainingEnvironment,
    TrainingOutcome,
    UserError,
)
from sagepipe_local.sagemaker.algorithms.data import (
    CSV,
    DataFormatError,
    parse_csv,
    parse_media_type,
    read_text,
    stack_rows,
)
from sagepipe_local.sagemaker.algorithms.linear_learner_hyperparameters import (
    LinearLearnerSettings,
    validate_linear_learner_hyperparameters,
)

MODEL_FILE_NAME = "model_algo-1"
ARTIFACT_FORMAT = "sagepipe-linear-learner"
ARTIFACT_FORMAT_VERSION = 1
RECORDIO = "application/x-recordio-protobuf"  # the real default content type
_PROXIMAL_STEPS_PER_EPOCH = 50


@dataclass(frozen=True)
class LinearModel:
    weights: FloatArray
    bias: float

    def predict(self, features: FloatArray) -> FloatArray:
        result: FloatArray = features @ self.weights + self.bias
        return result


class LinearLearnerAlgorithm:
    name = "linear-learner"

    def train(self, environment: TrainingEnvironment) -> TrainingOutcome:
        settings = validate_linear_learner_hyperparameters(environment.hyperparameters)
        if "train" not in environment.channels:
            raise UserError("Channel 'train' is required but was not provided")
        unknown = sorted(set(environment.channels) - {"train", "validation", "test"})
        if unknown:
            raise UserError(f"Unsupported channel(s) for Linear Learner: {', '.join(unknown)}")
        train_x, train_y = _load_channel(environment.channels["train"])
        width = train_x.shape[1]
        if settings.feature_dim is not None and settings.feature_dim != width:
            raise UserError(
                f"The feature_dim hyperparameter ({settings.feature_dim}) does not match the "
                f"number of features in the train channel ({width})"
            )
        environment.log.info("Linear Learner: %d training rows, %d features", train_y.size, width)
        model = _fit(train_x, train_y, settings, environment.check_stop)
        train_mse = _mse(model, train_x, train_y)
        environment.log.info(
            "#quality_metric: host=algo-1, epoch=%d, train mse_objective <loss>=%.6f",
            settings.epochs - 1,
            train_mse,
        )
        metrics = {"train:objective_loss": train_mse, "train:rmse": float(np.sqrt(train_mse))}
        for channel in ("validation", "test"):
            if channel in environment.channels:
                features, labels = _load_channel(environment.channels[channel])
                if features.shape[1] != width:
                    raise UserError(
                        f"The {channel} channel has {features.shape[1]} features, train has {width}"
                    )
                mse = _mse(model, features, labels)
                environment.log.info(
                    "#quality_metric: host=algo-1, %s mse <loss>=%.6f", channel, mse
                )
                metrics[f"{channel}:mse"] = mse
                metrics[f"{channel}:rmse"] = float(np.sqrt(mse))
                metrics[f"{channel}:objective_loss"] = mse
        environment.model_dir.mkdir(parents=True, exist_ok=True)
        document = {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "predictor_type": "regressor",
            "feature_dim": width,
            "weights": model.weights.tolist(),
            "bias": model.bias,
        }
        (environment.model_dir / MODEL_FILE_NAME).write_text(json.dumps(document))
        return TrainingOutcome(final_metrics=metrics)

    def load(self, model_dir: Path, *, threads: int = 1) -> LinearLearnerPredictor:
        path = model_dir / MODEL_FILE_NAME
        if not path.is_file():
            raise AlgorithmError(f"Unable to load model: {MODEL_FILE_NAME} is not in the artifact")
        try:
            document = json.loads(path.read_text())
            if document.get("format") != ARTIFACT_FORMAT:
                raise AlgorithmError(
                    f"Unable to load model: {MODEL_FILE_NAME} is not a {ARTIFACT_FORMAT} artifact "
                    "(real Linear Learner artifacts cannot be served offline)"
                )
            weights = np.asarray(document["weights"], dtype=np.float64)
            model = LinearModel(weights=weights, bias=float(document["bias"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise AlgorithmError(f"Unable to load model: {error}") from error
        return LinearLearnerPredictor(model)


class LinearLearnerPredictor:
    # The real Linear Learner has no text/csv output.
    output_types: tuple[str, ...] = ("application/json", "application/jsonlines")

    def __init__(self, model: LinearModel) -> None:
        self._model = model

    def predict(self, body: bytes, content_type: str) -> FloatArray:
        media = parse_media_type(content_type, CSV)
        if media.mime != CSV:
            raise PayloadError(
                415, f"Content type {media.mime} is not supported by the offline Linear Learner"
            )
        try:
            features = parse_csv(body.decode("utf-8"), "payload")
        except (UnicodeDecodeError, DataFormatError) as error:
            raise PayloadError(415, f"Unable to parse the text/csv payload: {error}") from error
        expected = self._model.weights.size
        if features.shape[1] != expected:
            raise PayloadError(
                400,
                f"The payload has {features.shape[1]} features; the model expects {expected}",
            )
        if np.isnan(features).any():
            raise PayloadError(400, "The payload has missing values; Linear Learner needs all")
        return self._model.predict(features)


def _load_channel(channel: ChannelData) -> tuple[FloatArray, FloatArray]:
    media = parse_media_type(channel.content_type, RECORDIO)
    if media.mime == RECORDIO:
        raise UserError(
            f"Channel {channel.name}: content type {RECORDIO} (the default when ContentType is "
            "absent) is not supported by the offline emulator; use text/csv"
        )
    if media.mime != CSV:
        raise UserError(
            f"Channel {channel.name}: content type {media.mime} is not supported. "
            f"Supported content types: {CSV}, {RECORDIO}"
        )
    try:
        matrix = stack_rows(
            [parse_csv(text, name) for name, text in read_text(channel.files, channel.gzipped)]
        )
    except DataFormatError as error:
        raise UserError(f"Channel {channel.name}: {error}") from error
    if matrix.shape[0] == 0:
        raise UserError(f"Channel {channel.name} has no records")
    if matrix.shape[1] < 2:
        raise UserError(f"Channel {channel.name}: rows have no feature columns after the label")
    if np.isnan(matrix).any():
        raise UserError(
            f"Channel {channel.name}: the data has missing values; Linear Learner needs all values"
        )
    return matrix[:, 1:], matrix[:, 0]


def _fit(
    features: FloatArray,
    labels: FloatArray,
    settings: LinearLearnerSettings,
    check_stop: Callable[[], None],
) -> LinearModel:
    width = features.shape[1]
    centre = features.mean(axis=0) if settings.normalize_data else np.zeros(width)
    scale = _nonzero(features.std(axis=0)) if settings.normalize_data else np.ones(width)
    label_centre = float(labels.mean()) if settings.normalize_label else 0.0
    label_scale = (
        float(_nonzero(np.asarray([labels.std()]))[0]) if settings.normalize_label else 1.0
    )
    standard = (features - centre) / scale
    target = (labels - label_centre) / label_scale
    if settings.use_bias:
        offset, target_offset = standard.mean(axis=0), float(target.mean())
    else:
        offset, target_offset = np.zeros(width), 0.0
    design = standard - offset
    response = target - target_offset
    if settings.l1 > 0:
        weights = _proximal_gradient(design, response, settings, check_stop)
    else:
        weights = _ridge(design, response, settings.wd)
    check_stop()
    bias_standard = target_offset - float(offset @ weights)
    # Undo the scaling: y = ((x - centre) / scale . w + b) * label_scale + label_centre.
    original_weights = weights / scale * label_scale
    original_bias = (bias_standard - float((centre / scale) @ weights)) * label_scale + label_centre
    if not np.all(np.isfinite(original_weights)) or not np.isfinite(original_bias):
        raise AlgorithmError("Training diverged: the fitted weights are not finite")
    return LinearModel(weights=original_weights, bias=original_bias)


def _ridge(design: FloatArray, response: FloatArray, wd: float) -> FloatArray:
    rows, width = design.shape
    if wd > 0:
        design = np.vstack([design, np.sqrt(rows * wd) * np.eye(width)])
        response = np.concatenate([response, np.zeros(width)])
    solution: FloatArray = np.linalg.lstsq(design, response, rcond=None)[0]
    return solution


def _proximal_gradient(
    design: FloatArray,
    response: FloatArray,
    settings: LinearLearnerSettings,
    check_stop: Callable[[], None],
) -> FloatArray:
    """Minimise mean squared error / 2 + wd/2 |w|^2 + l1 |w|_1 (ISTA)."""
    rows, width = design.shape
    lipschitz = float(np.linalg.norm(design, ord=2) ** 2) / rows + settings.wd
    step = 1.0 / max(lipschitz, 1e-12)
    weights = np.zeros(width)
    for epoch in range(settings.epochs):
        for _ in range(_PROXIMAL_STEPS_PER_EPOCH):
            gradient = design.T @ (design @ weights - response) / rows + settings.wd * weights
            moved = weights - step * gradient
            weights = np.sign(moved) * np.maximum(np.abs(moved) - step * settings.l1, 0.0)
        if epoch % 5 == 0:
            check_stop()
    return weights


def _nonzero(values: FloatArray) -> FloatArray:
    result: FloatArray = np.where(values > 0, values, 1.0)
    return result


def _mse(model: LinearModel, features: FloatArray, labels: FloatArray) -> float:
    return float(np.mean((model.predict(features) - labels) ** 2))
