"""What each built-in algorithm answers with, in one place.

XGBoost returns text/csv (one score per line), the cheapest answer to decode. Linear
Learner has no CSV output: JSON Lines (`{"score": x}` per line) for batch transform,
JSON (`{"predictions": [{"score": x}]}`) for the endpoint.
"""

from __future__ import annotations

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"


def transform_accept(algorithm: str) -> str:
    return CSV if algorithm == "xgboost" else JSON_LINES


def endpoint_accept(algorithm: str) -> str:
    return CSV if algorithm == "xgboost" else JSON
