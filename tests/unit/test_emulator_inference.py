"""How the emulated model servers write predictions, by Accept type."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sagepipe_local.sagemaker.algorithms.base import FloatArray, PayloadError
from sagepipe_local.sagemaker.inference import encode_predictions

TYPES = ("text/csv", "application/json", "application/jsonlines")


def test_csv_is_one_line_per_record_with_pythons_float_text() -> None:
    scores = np.array([0.1 + 0.2, -3.0, 1e-7, 12345.678])
    body, content_type = encode_predictions(scores, "text/csv", TYPES)
    assert content_type == "text/csv"
    assert body == b"0.30000000000000004\n-3.0\n1e-07\n12345.678\n"
    assert [float(line) for line in body.decode().splitlines()] == scores.tolist()


def test_csv_writes_several_values_per_record_comma_separated() -> None:
    body, _ = encode_predictions(np.array([[0.5, 0.25], [1.0, 2.0]]), "text/csv", TYPES)
    assert body == b"0.5,0.25\n1.0,2.0\n"


@pytest.mark.parametrize("empty", [np.zeros(0), np.zeros((0, 1)), np.float64(1.0).reshape(())])
def test_no_records_answer_empty(empty: FloatArray) -> None:
    assert encode_predictions(empty, "text/csv", TYPES) == (b"", "text/csv")
    body, _ = encode_predictions(empty, "application/json", TYPES)
    assert json.loads(body) == {"predictions": []}


def test_json_and_json_lines_wrap_each_score() -> None:
    scores = np.array([1.5, -2.0])
    body, _ = encode_predictions(scores, "application/json", TYPES)
    assert json.loads(body) == {"predictions": [{"score": 1.5}, {"score": -2.0}]}
    body, _ = encode_predictions(scores, "application/jsonlines", TYPES)
    assert body == b'{"score": 1.5}\n{"score": -2.0}\n'


def test_an_accept_type_the_container_lacks_is_refused() -> None:
    with pytest.raises(PayloadError) as refused:
        encode_predictions(np.array([1.0]), "application/json", ("text/csv",))
    assert refused.value.status == 406
