"""The built-in XGBoost algorithm (image `sagemaker-xgboost:<version>`), with xgboost-cpu.

Training reads `train` (required) and `validation` (optional) channels in text/csv (label
first) or text/libsvm (the default), early-stops on `validation`, logs one line per round
in the container's format and saves exactly one file, `xgboost-model`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

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
    LIBSVM,
    DataFormatError,
    pad_columns,
    parse_csv,
    parse_libsvm,
    parse_media_type,
    read_libsvm_bytes_natively,
    read_libsvm_file_natively,
    read_text,
    stack_rows,
    stack_sparse_rows,
    widened,
)
from sagepipe_local.sagemaker.algorithms.xgboost_hyperparameters import (
    booster_params,
    validate_xgboost_hyperparameters,
)

MODEL_FILE_NAME = "xgboost-model"
_UNSUPPORTED_OFFLINE = ("application/x-parquet", "application/x-recordio-protobuf")
_TRAINING_TYPES = (CSV, LIBSVM, *_UNSUPPORTED_OFFLINE)


@dataclass(frozen=True)
class _Dataset:
    features: Any  # CSV: a dense FloatArray (NaN = missing); libsvm: a scipy CSR matrix
    labels: FloatArray
    weights: FloatArray | None
    sparse: bool  # libsvm: rows need not mention the last features
    # A plain libsvm file read by XGBoost in place: the rows are here, `features` is None.
    native: Any | None = None

    @property
    def width(self) -> int:
        if self.native is not None:
            return int(self.native.num_col())
        return int(self.features.shape[1])


class XGBoostAlgorithm:
    def __init__(self, version: str) -> None:
        self.version = version
        self.name = f"sagemaker-xgboost:{version}"

    def train(self, environment: TrainingEnvironment) -> TrainingOutcome:
        values = validate_xgboost_hyperparameters(environment.hyperparameters)
        if "train" not in environment.channels:
            raise UserError("Channel 'train' is required but was not provided")
        unknown = sorted(set(environment.channels) - {"train", "validation"})
        if unknown:
            raise UserError(f"Unsupported channel(s) for XGBoost: {', '.join(unknown)}")
        csv_weights = values.get("csv_weights", 0) == 1
        params = booster_params(values, os.cpu_count() or 1)
        nthread = params["nthread"]
        train = _load_channel(environment.channels["train"], csv_weights, nthread)
        validation = None
        if "validation" in environment.channels:
            validation = _load_channel(environment.channels["validation"], csv_weights, nthread)
        width = train.width
        if validation is not None:
            if not (train.sparse and validation.sparse) and validation.width != width:
                raise UserError(
                    f"The train channel has {width} features and the validation channel "
                    f"{validation.width}"
                )
            width = max(width, validation.width)
        environment.log.info(
            "XGBoost %s: %d training rows, %d features, params %s",
            self.version,
            train.labels.size,
            width,
            params,
        )
        dtrain = _dmatrix(train, width, nthread)
        evals = [(dtrain, "train")]
        if validation is not None:
            evals.append((_dmatrix(validation, width, nthread), "validation"))
        callbacks: list[Any] = [_RoundReporter(environment.log, environment.check_stop)]
        rounds = values.get("early_stopping_rounds")
        if rounds is not None and validation is not None:
            callbacks.append(
                xgb.callback.EarlyStopping(rounds=rounds, data_name="validation", save_best=True)
            )
        elif rounds is not None:
            environment.log.warning("early_stopping_rounds ignored: no validation channel")
        history: dict[str, dict[str, list[float]]] = {}
        try:
            booster = xgb.train(
                params,
                dtrain,
                num_boost_round=values["num_round"],
                evals=evals,
                evals_result=history,
                callbacks=callbacks,
                verbose_eval=False,
            )
        except xgb.core.XGBoostError as error:
            raise AlgorithmError(f"XGBoost training failed: {_first_line(error)}") from error
        environment.model_dir.mkdir(parents=True, exist_ok=True)
        (environment.model_dir / MODEL_FILE_NAME).write_bytes(bytes(booster.save_raw("ubj")))
        return TrainingOutcome(final_metrics=_final_metrics(history, booster))

    def load(self, model_dir: Path, *, threads: int = 1) -> XGBoostPredictor:
        files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise AlgorithmError("Unable to load model: the model directory is empty")
        boosters = []
        for path in files:
            booster = xgb.Booster()
            try:
                booster.load_model(bytearray(path.read_bytes()))
            except xgb.core.XGBoostError as error:
                raise AlgorithmError(
                    f"Unable to load model {path.name}: {_first_line(error)}"
                ) from error
            booster.set_param({"nthread": threads})
            boosters.append(booster)
        if len(boosters) > 1:
            # The real server does the same, which is why the tarball must hold one file.
            logging.getLogger(__name__).warning(
                "%d model files found (%s): predictions are their average",
                len(boosters),
                ", ".join(p.name for p in files),
            )
        return XGBoostPredictor(boosters, threads)


class XGBoostPredictor:
    """The model server: text/csv (no label) or text/libsvm payloads, one score per row."""

    output_types: tuple[str, ...] = ("text/csv", "application/json", "application/jsonlines")

    def __init__(self, boosters: list[Any], threads: int = 1) -> None:
        self._boosters = boosters
        self._threads = threads
        self._num_features = max(int(b.num_features()) for b in boosters)
        # Booster.predict is not thread-safe for every booster type; requests are small.
        self._lock = threading.Lock()

    def predict(self, body: bytes, content_type: str) -> FloatArray:
        media = parse_media_type(content_type, CSV)
        matrix = self._native_libsvm_matrix(body) if media.mime == LIBSVM else None
        if matrix is None:
            matrix = xgb.DMatrix(
                self._features(body, media.mime).astype(np.float32),
                missing=np.nan,
                nthread=self._threads,
            )
        try:
            with self._lock:
                predictions = [
                    np.asarray(b.predict(matrix, validate_features=False)) for b in self._boosters
                ]
        except xgb.core.XGBoostError as error:
            raise PayloadError(
                400, f"Unable to evaluate payload provided: {_first_line(error)}"
            ) from error
        averaged: FloatArray = np.mean(np.stack(predictions), axis=0).astype(np.float64)
        return averaged

    def _features(self, body: bytes, mime: str) -> Any:
        try:
            text = body.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            raise PayloadError(415, f"the payload is not UTF-8 text: {error}") from error
        if mime == CSV:
            return self._csv_features(text)
        if mime == LIBSVM:
            return self._libsvm_features(text)
        if mime in _UNSUPPORTED_OFFLINE:
            raise PayloadError(415, f"{mime} is not supported by the offline emulator")
        raise PayloadError(415, f"Content type {mime} is not supported by this algorithm")

    def _native_libsvm_matrix(self, body: bytes) -> Any | None:
        """A large plain payload as XGBoost reads it; None leaves it to the checks of
        `_libsvm_features` (which also refuse a payload wider than the model)."""
        matrix = read_libsvm_bytes_natively(body, self._threads)
        if matrix is None or matrix.num_col() > self._num_features:
            return None
        return matrix

    def _csv_features(self, text: str) -> FloatArray:
        try:
            features = parse_csv(text, "payload")
        except DataFormatError as error:
            raise PayloadError(
                415,
                "Loading csv data failed with Exception, please ensure data is in csv "
                f"format: {error}",
            ) from error
        if features.shape[1] != self._num_features:
            raise PayloadError(
                400,
                "Unable to evaluate payload provided: Feature size of csv inference data "
                f"{features.shape[1]} is not consistent with feature size of trained model "
                f"{self._num_features}.",
            )
        return features

    def _libsvm_features(self, text: str) -> Any:
        """A scipy CSR matrix: XGBoost takes an absent entry as missing, as a NaN."""
        try:
            rows = parse_libsvm(text, "payload", labelled=False)
        except DataFormatError as error:
            raise PayloadError(
                415,
                "Loading libsvm data failed with Exception, please ensure data is in libsvm "
                f"format: {error}",
            ) from error
        width = rows.matrix.shape[1]
        if width > self._num_features:
            raise PayloadError(
                400,
                "Unable to evaluate payload provided: Feature size of libsvm inference data "
                f"{width} is larger than feature size of trained model "
                f"{self._num_features}.",
            )
        return widened(rows.matrix, self._num_features)


class _RoundReporter(xgb.callback.TrainingCallback):
    """Logs `[n]#011train-rmse:..#011validation-rmse:..` and honours stop requests."""

    def __init__(
        self, log: logging.LoggerAdapter[logging.Logger], check_stop: Callable[[], None]
    ) -> None:
        super().__init__()
        self._log = log
        self._check_stop = check_stop

    def after_iteration(
        self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, list[Any]]]
    ) -> bool:
        parts = [f"[{epoch}]"]
        for data_name, metrics in evals_log.items():
            for metric, values in metrics.items():
                parts.append(f"{data_name}-{metric}:{_score(values[-1]):.5f}")
        self._log.info("%s", "#011".join(parts))
        self._check_stop()
        return False


def _score(value: Any) -> float:
    # With some metrics xgboost records (mean, std) pairs.
    return float(value[0]) if isinstance(value, tuple) else float(value)


def _final_metrics(
    history: Mapping[str, Mapping[str, list[Any]]], booster: Any
) -> dict[str, float]:
    best = booster.attr("best_iteration")
    metrics: dict[str, float] = {}
    for data_name, by_metric in history.items():
        for metric, values in by_metric.items():
            if not values:
                continue
            index = int(best) if best is not None and int(best) < len(values) else -1
            metrics[f"{data_name}:{metric}"] = _score(values[index])
    return metrics


def _load_channel(channel: ChannelData, csv_weights: bool, nthread: int) -> _Dataset:
    media = parse_media_type(channel.content_type, LIBSVM)
    if media.mime in _UNSUPPORTED_OFFLINE:
        raise UserError(
            f"Content type {media.mime} (channel {channel.name}) is not supported by the "
            "offline emulator; use text/csv or text/libsvm"
        )
    if media.mime not in _TRAINING_TYPES:
        raise UserError(
            f"Content type {media.mime} is not supported by this algorithm. "
            f"Supported content types: {', '.join(_TRAINING_TYPES)}"
        )
    if media.mime == CSV and media.parameters.get("label_size", "1") != "1":
        raise UserError("label_size other than 1 is not supported for text/csv")
    try:
        if media.mime == CSV:
            dataset = _csv_dataset(read_text(channel.files, channel.gzipped), csv_weights)
        else:
            dataset = _libsvm_dataset(channel, nthread)
    except DataFormatError as error:
        raise UserError(f"Channel {channel.name}: {error}") from error
    if dataset.labels.size == 0:
        raise UserError(f"Channel {channel.name} has no records")
    if np.isnan(dataset.labels).any():
        raise UserError(f"Channel {channel.name}: a label is missing (empty first column)")
    return dataset


def _libsvm_dataset(channel: ChannelData, nthread: int) -> _Dataset:
    if len(channel.files) == 1 and not channel.gzipped:
        native = read_libsvm_file_natively(channel.files[0], nthread)
        if native is not None:
            labels = native.get_label().astype(np.float64)
            return _Dataset(features=None, labels=labels, weights=None, sparse=True, native=native)
    blocks = [
        parse_libsvm(text, name, labelled=True)
        for name, text in read_text(channel.files, channel.gzipped)
    ]
    return _Dataset(
        features=stack_sparse_rows([block.matrix for block in blocks]),
        labels=np.concatenate([block.labels for block in blocks]) if blocks else np.empty(0),
        weights=None,
        sparse=True,
    )


def _csv_dataset(texts: list[tuple[str, str]], csv_weights: bool) -> _Dataset:
    leading = 2 if csv_weights else 1
    matrices = []
    for name, text in texts:
        matrix = parse_csv(text, name)
        if matrix.shape[0] and matrix.shape[1] <= leading:
            raise DataFormatError(f"{name}: rows have no feature columns after the label")
        matrices.append(matrix)
    widths = {m.shape[1] for m in matrices if m.shape[0]}
    if len(widths) > 1:
        raise DataFormatError(f"files have different numbers of columns: {sorted(widths)}")
    matrix = stack_rows(matrices)
    if matrix.shape[0] == 0:
        return _Dataset(np.empty((0, 0)), np.empty(0), None, sparse=False)
    return _Dataset(
        features=matrix[:, leading:],
        labels=matrix[:, 0],
        weights=matrix[:, 1] if csv_weights else None,
        sparse=False,
    )


def _dmatrix(dataset: _Dataset, width: int, nthread: int) -> Any:
    if dataset.native is not None:
        if dataset.native.num_col() == width:
            return dataset.native
        features = widened(dataset.native.get_data(), width)
    elif dataset.sparse:
        features = widened(dataset.features, width).astype(np.float32)
    else:
        features = pad_columns(dataset.features, width).astype(np.float32)
    return xgb.DMatrix(
        features,
        label=dataset.labels,
        weight=dataset.weights,
        missing=np.nan,
        nthread=nthread,
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
