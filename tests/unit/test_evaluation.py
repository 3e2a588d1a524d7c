"""Metrics against hand-computed numbers, parsing of transform output, the quality gate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sagepipe.errors import InputDataError
from sagepipe.evaluation import GateDecision, Metrics, compute_metrics, gate, parse_numbers


def test_metrics_by_hand() -> None:
    # errors = [1, -1, 1, -1]            -> RMSE 1, MAE 1
    # labels mean 5, SS_tot = 16+0+0+16 = 32, SS_res = 4 -> R2 = 1 - 4/32 = 0.875
    # labels - training mean 4 = [-3, 1, 1, 5] -> baseline RMSE sqrt(36/4) = 3
    metrics = compute_metrics([2.0, 4.0, 6.0, 8.0], [1.0, 5.0, 5.0, 9.0], training_mean=4.0)
    assert metrics.rmse == pytest.approx(1.0)
    assert metrics.mae == pytest.approx(1.0)
    assert metrics.r2 == pytest.approx(0.875)
    assert metrics.rows == 4
    assert metrics.baseline_rmse == pytest.approx(3.0)


def test_metrics_by_hand_uneven_errors() -> None:
    # errors = [0, 3, -4]  -> RMSE sqrt(25/3), MAE 7/3
    # labels [0, 0, 6], mean 2, SS_tot = 4+4+16 = 24, SS_res = 25 -> R2 = 1 - 25/24
    # training mean 1: [-1, -1, 5] -> baseline sqrt(27/3) = 3
    metrics = compute_metrics(np.array([0.0, 3.0, 2.0]), np.array([0.0, 0.0, 6.0]), 1.0)
    assert metrics.rmse == pytest.approx(math.sqrt(25 / 3))
    assert metrics.mae == pytest.approx(7 / 3)
    assert metrics.r2 == pytest.approx(1 - 25 / 24)
    assert metrics.baseline_rmse == pytest.approx(3.0)
    assert metrics.rows == 3


def test_perfect_predictions() -> None:
    metrics = compute_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], training_mean=2.0)
    assert metrics.rmse == 0.0
    assert metrics.mae == 0.0
    assert metrics.r2 == 1.0


def test_constant_labels_give_r2_zero() -> None:
    metrics = compute_metrics([1.0, 3.0], [2.0, 2.0], training_mean=2.0)
    assert metrics.r2 == 0.0
    assert metrics.baseline_rmse == 0.0


def test_metrics_are_plain_floats_for_json() -> None:
    data = compute_metrics([2.0, 4.0], [1.0, 5.0], 3.0).to_dict()
    assert set(data) == {"rmse", "mae", "r2", "rows", "baseline_rmse"}
    assert all(type(value) in (float, int) for value in data.values())
    assert type(data["rows"]) is int


def test_wrong_prediction_count_is_input_data_error() -> None:
    with pytest.raises(InputDataError, match="returned 2 predictions for 3 held-out rows"):
        compute_metrics([1.0, 2.0], [1.0, 2.0, 3.0], training_mean=2.0)


def test_empty_split_is_input_data_error() -> None:
    with pytest.raises(InputDataError, match="empty"):
        compute_metrics([], [], training_mean=2.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_predictions_are_input_data_error(bad: float) -> None:
    with pytest.raises(InputDataError, match="non-finite"):
        compute_metrics([1.0, bad], [1.0, 2.0], training_mean=2.0)


def test_parse_numbers_one_per_line() -> None:
    values = parse_numbers("1.5\n-2\n\n3e2\n  4.25  \n", "out")
    assert values.tolist() == [1.5, -2.0, 300.0, 4.25]
    assert values.dtype == np.float64


def test_parse_numbers_reads_lines_without_blanks_as_with_them() -> None:
    plain = "1.5\n-2\n  4.25  \nnan\n"  # every line a number: the one-pass path
    with_blank = plain.replace("\n", "\n\n", 1)  # a blank line: line by line
    np.testing.assert_array_equal(parse_numbers(plain, "out"), parse_numbers(with_blank, "out"))


def test_parse_numbers_json_and_csv_lines() -> None:
    assert parse_numbers('{"score": 0.5}\n{"score":-1.25}\n', "out").tolist() == [0.5, -1.25]
    assert parse_numbers("7.5,extra\n", "out").tolist() == [7.5]


def test_parse_numbers_windows_line_endings() -> None:
    assert parse_numbers("1\r\n2\r\n", "out").tolist() == [1.0, 2.0]


def test_parse_numbers_names_source_and_line() -> None:
    with pytest.raises(InputDataError, match=r"s3://b/labels\.csv: line 2 is not a number"):
        parse_numbers("1\nabc\n3\n", "s3://b/labels.csv")


def _metrics(rmse: float, baseline: float) -> Metrics:
    return Metrics(rmse=rmse, mae=rmse, r2=0.5, rows=10, baseline_rmse=baseline)


def test_gate_deploys_a_model_that_beats_the_baseline() -> None:
    decision = gate(_metrics(1.0, 3.0), max_rmse=None)
    assert decision == GateDecision(True, "RMSE 1 beats the mean baseline 3")


def test_gate_deploys_within_max_rmse() -> None:
    decision = gate(_metrics(1.0, 3.0), max_rmse=1.5)
    assert decision.deploy is True
    assert decision.reason == "RMSE 1 beats the mean baseline 3 and max_rmse 1.5"


def test_gate_accepts_rmse_equal_to_max_rmse() -> None:
    assert gate(_metrics(1.5, 3.0), max_rmse=1.5).deploy is True


@pytest.mark.parametrize("rmse", [3.0, 3.5])
def test_gate_rejects_a_model_that_does_not_beat_the_baseline(rmse: float) -> None:
    decision = gate(_metrics(rmse, 3.0), max_rmse=None)
    assert decision.deploy is False
    assert "does not beat the mean baseline 3" in decision.reason


def test_gate_baseline_rule_applies_even_with_a_loose_max_rmse() -> None:
    assert gate(_metrics(4.0, 3.0), max_rmse=100.0).deploy is False


def test_gate_rejects_above_max_rmse() -> None:
    decision = gate(_metrics(2.0, 3.0), max_rmse=1.5)
    assert decision == GateDecision(False, "RMSE 2 is above max_rmse 1.5")


def test_gate_rejects_non_finite_rmse() -> None:
    decision = gate(_metrics(math.nan, 3.0), max_rmse=None)
    assert decision.deploy is False
    assert "not finite" in decision.reason


def test_json_lines_are_read_by_key_not_by_position() -> None:
    text = '{"score": 0.5}\n{"predicted_label": 1, "score": 2}\n'
    assert parse_numbers(text, "out").tolist() == [0.5, 2.0]
