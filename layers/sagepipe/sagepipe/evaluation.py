"""Metrics of a model on the held-out split, and the deployment gate."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sagepipe.errors import InputDataError


@dataclass(frozen=True)
class Metrics:
    rmse: float
    mae: float
    r2: float
    rows: int
    baseline_rmse: float  # RMSE of always predicting the training mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    deploy: bool
    reason: str


def parse_numbers(text: str, source: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One number per line (transform output, labels); a JSON `{"score": x}` line too."""
    lines = text.splitlines()
    try:
        # Every line one number (float() ignores surrounding whitespace, as strip does):
        # 2.5 ms instead of 4.9 for 10,000 lines.
        return np.asarray(list(map(float, lines)), dtype=np.float64)
    except ValueError:
        pass  # blank, JSON or CSV lines, or a bad one: line by line, which names it
    values: list[float] = []
    for line_number, line in enumerate(lines, start=1):
        token = line.strip()
        if not token:
            continue
        try:
            if token.startswith("{"):
                values.append(float(json.loads(token)["score"]))
            else:
                values.append(float(token.split(",", 1)[0]))
        except (ValueError, KeyError, TypeError) as error:
            raise InputDataError(
                f"{source}: line {line_number} is not a number: {line[:80]!r}"
            ) from error
    return np.asarray(values, dtype=np.float64)


def compute_metrics(
    predictions: Sequence[float] | np.ndarray[Any, np.dtype[np.float64]],
    labels: Sequence[float] | np.ndarray[Any, np.dtype[np.float64]],
    training_mean: float,
) -> Metrics:
    predicted = np.asarray(predictions, dtype=np.float64)
    actual = np.asarray(labels, dtype=np.float64)
    if predicted.shape != actual.shape:
        raise InputDataError(
            f"the batch transform returned {predicted.size} predictions "
            f"for {actual.size} held-out rows"
        )
    if actual.size == 0:
        raise InputDataError("the held-out split is empty")
    if not np.all(np.isfinite(predicted)):
        raise InputDataError("the model produced non-finite predictions")
    errors = predicted - actual
    rmse = float(np.sqrt(np.mean(errors**2)))
    total = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(errors**2)) / total if total > 0 else 0.0
    baseline = float(np.sqrt(np.mean((actual - training_mean) ** 2)))
    return Metrics(
        rmse=rmse,
        mae=float(np.mean(np.abs(errors))),
        r2=r2,
        rows=int(actual.size),
        baseline_rmse=baseline,
    )


def gate(metrics: Metrics, max_rmse: float | None) -> GateDecision:
    """Deploy only a model that beats the mean baseline and, when set, max_rmse."""
    if not math.isfinite(metrics.rmse):
        return GateDecision(False, "RMSE is not finite")
    if metrics.rmse >= metrics.baseline_rmse:
        return GateDecision(
            False,
            f"RMSE {metrics.rmse:.4g} does not beat the mean baseline {metrics.baseline_rmse:.4g}",
        )
    if max_rmse is not None and metrics.rmse > max_rmse:
        return GateDecision(False, f"RMSE {metrics.rmse:.4g} is above max_rmse {max_rmse:.4g}")
    limit = f" and max_rmse {max_rmse:.4g}" if max_rmse is not None else ""
    return GateDecision(
        True,
        f"RMSE {metrics.rmse:.4g} beats the mean baseline {metrics.baseline_rmse:.4g}{limit}",
    )
