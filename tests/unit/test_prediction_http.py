"""The prediction API's proxy responses: bodies are exact JSON of what they carry."""

from __future__ import annotations

import json
import math

import pytest

from sagepipe.prediction_http import ApiResponse
from sagepipe.prediction_service import PredictionResult

# Floats whose text differs between writers (exponents, shortest round trip, -0.0).
AWKWARD_SCORES = [1e16, 1e-7, 0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308, 12.345678329467773]


def test_a_prediction_body_round_trips_every_score_exactly() -> None:
    result = PredictionResult(model="flights", version="v1", predictions=AWKWARD_SCORES * 200)
    proxy = ApiResponse(200, result.to_dict(), prediction=result).to_proxy()

    assert proxy["statusCode"] == 200
    assert proxy["headers"] == {"Content-Type": "application/json"}
    body = json.loads(proxy["body"])
    assert body == result.to_dict()
    assert [math.copysign(1.0, s) for s in body["predictions"][:4]] == [1.0, 1.0, 1.0, -1.0]


def test_other_bodies_refuse_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        ApiResponse(200, {"metrics": {"r2": math.nan}}).to_proxy()


def test_unavailable_says_when_to_retry() -> None:
    proxy = ApiResponse(503, {"message": "endpoint is not ready"}).to_proxy()
    assert proxy["headers"]["Retry-After"] == "5"
    assert json.loads(proxy["body"]) == {"message": "endpoint is not ready"}
