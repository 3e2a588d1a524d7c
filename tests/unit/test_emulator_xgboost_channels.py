"""The emulator's XGBoost: a plain libsvm channel file is read in place and trains the
model the same rows read line by line train; libsvm payloads score as the same rows in
CSV, whichever reader and however many threads."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sagepipe_local.sagemaker.algorithms import xgboost_algorithm
from sagepipe_local.sagemaker.algorithms.base import (
    ChannelData,
    PayloadError,
    TrainingEnvironment,
)
from sagepipe_local.sagemaker.algorithms.data import (
    NATIVE_MIN_LINES,
    read_libsvm_bytes_natively,
    read_libsvm_file_natively,
)
from sagepipe_local.sagemaker.algorithms.xgboost_algorithm import MODEL_FILE_NAME, XGBoostAlgorithm

HYPERPARAMETERS = {
    "max_depth": "3",
    "eta": "0.3",
    "subsample": "0.8",
    "objective": "reg:squarederror",
    "num_round": "20",
    "early_stopping_rounds": "5",
}


def _libsvm(rows: int, width: int, seed: int) -> str:
    """Labelled rows of values exact in float32; about a third of the entries absent, and
    no row mentions the last feature."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        values = rng.integers(-40, 40, size=width) / 4
        present = rng.random(width) > 0.3
        present[-1] = False
        label = float(values[present].sum()) + rng.integers(-4, 4) / 4
        pairs = " ".join(f"{i}:{values[i]:g}" for i in range(width) if present[i])
        lines.append(f"{label:g} {pairs}".rstrip())
    return "\n".join(lines) + "\n"


def _train(tmp_path: Path, name: str, channels: dict[str, str]) -> tuple[bytes, dict[str, float]]:
    data = {}
    for channel, text in channels.items():
        path = tmp_path / name / channel / f"{channel}.libsvm"
        path.parent.mkdir(parents=True)
        path.write_bytes(text.encode())
        data[channel] = ChannelData(channel, "text/libsvm", [path], gzipped=False)
    environment = TrainingEnvironment(
        hyperparameters=HYPERPARAMETERS,
        channels=data,
        model_dir=tmp_path / name / "model",
        log=logging.LoggerAdapter(logging.getLogger("test"), {"job": name}),
        check_stop=lambda: None,
    )
    outcome = XGBoostAlgorithm("1.7-1").train(environment)
    return (environment.model_dir / MODEL_FILE_NAME).read_bytes(), dict(outcome.final_metrics)


@pytest.mark.parametrize(
    ("train_width", "validation_width"),
    [(6, 6), (6, 4), (4, 6)],
    ids=["same width", "narrower validation", "wider validation"],
)
def test_in_place_and_line_by_line_reading_train_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, train_width: int, validation_width: int
) -> None:
    plain = {
        "train": _libsvm(300, train_width, seed=1),
        "validation": _libsvm(80, validation_width, seed=2),
    }
    read_in_place: list[bool] = []

    def spy(path: Path, nthread: int) -> object:
        matrix = read_libsvm_file_natively(path, nthread)
        read_in_place.append(matrix is not None)
        return matrix

    monkeypatch.setattr(xgboost_algorithm, "read_libsvm_file_natively", spy)
    in_place = _train(tmp_path, "in-place", plain)
    assert read_in_place == [True, True]
    # CRLF line ends are not plain text: the same rows then go through parse_libsvm.
    crlf = {channel: text.replace("\n", "\r\n") for channel, text in plain.items()}
    line_by_line = _train(tmp_path, "line-by-line", crlf)
    assert read_in_place == [True, True, False, False]
    assert in_place == line_by_line


def _as_csv(libsvm: str, width: int) -> str:
    """The same feature rows as CSV without the label, an empty field where absent."""
    lines = []
    for line in libsvm.splitlines():
        fields = [""] * width
        for pair in line.split()[1:]:
            index, value = pair.split(":")
            fields[int(index)] = value
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("rows", [3, NATIVE_MIN_LINES + 1], ids=["short", "long"])
def test_libsvm_payloads_score_as_the_same_rows_in_csv(tmp_path: Path, rows: int) -> None:
    _train(tmp_path, "model", {"train": _libsvm(300, 6, seed=1)})
    predictor = XGBoostAlgorithm("1.7-1").load(tmp_path / "model" / "model")
    payload = _libsvm(rows, 6, seed=3)
    from_libsvm = predictor.predict(payload.encode(), "text/libsvm")
    # The last feature never occurs, so the model has five.
    from_csv = predictor.predict(_as_csv(payload, 5).encode(), "text/csv")
    assert from_libsvm.shape == (rows,)
    np.testing.assert_array_equal(from_libsvm, from_csv)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_long_plain_payload_is_read_in_place_and_scores_as_read_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    _train(tmp_path, "model", {"train": _libsvm(300, 6, seed=1)})
    predictor = XGBoostAlgorithm("1.7-1").load(tmp_path / "model" / "model", threads=threads)
    read_in_place: list[bool] = []

    def spy(raw: bytes, nthread: int) -> object:
        matrix = read_libsvm_bytes_natively(raw, nthread)
        read_in_place.append(matrix is not None)
        return matrix

    monkeypatch.setattr(xgboost_algorithm, "read_libsvm_bytes_natively", spy)
    payload = _libsvm(NATIVE_MIN_LINES + 1, 6, seed=3)
    in_place = predictor.predict(payload.encode(), "text/libsvm")
    # CRLF is not plain text: the payload then goes through parse_libsvm's CSR matrix.
    line_by_line = predictor.predict(payload.replace("\n", "\r\n").encode(), "text/libsvm")
    assert read_in_place == [True, False]
    np.testing.assert_array_equal(in_place, line_by_line)


def test_a_long_payload_wider_than_the_model_is_refused(tmp_path: Path) -> None:
    _train(tmp_path, "model", {"train": _libsvm(300, 6, seed=1)})
    predictor = XGBoostAlgorithm("1.7-1").load(tmp_path / "model" / "model", threads=2)
    payload = _libsvm(NATIVE_MIN_LINES + 1, 6, seed=3).replace("\n", " 9:1\n")
    with pytest.raises(PayloadError) as refused:
        predictor.predict(payload.encode(), "text/libsvm")
    assert refused.value.status == 400
    assert "larger than feature size of trained model 5" in refused.value.message
