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


def _repr_lines(values: FloatArray) -> bytes:
    return "".join(f"{value!r}\n" for value in values.tolist()).encode()


@pytest.mark.parametrize("scale", [1e-9, 1e-5, 1e-4, 1.0, 1e3, 1e15, 1e16, 1e20])
@pytest.mark.parametrize("origin", [np.float32, np.float64])
def test_csv_scores_are_written_exactly_as_repr_writes_them(
    scale: float, origin: type[np.floating]
) -> None:
    # Around each magnitude, both sides of the ones where repr switches to an exponent.
    rng = np.random.default_rng(7)
    scores = (rng.standard_normal(2_000) * scale).astype(origin).astype(np.float64)
    body, _ = encode_predictions(scores, "text/csv", TYPES)
    assert body == _repr_lines(scores)


def test_csv_scores_keep_repr_for_zeros_and_values_that_are_no_numbers() -> None:
    scores = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-4, 9.999e15, 1e16, 5e-324, 2.5])
    body, _ = encode_predictions(scores, "text/csv", TYPES)
    assert body == _repr_lines(scores)
    assert body.split(b"\n")[:5] == [b"0.0", b"-0.0", b"nan", b"inf", b"-inf"]
