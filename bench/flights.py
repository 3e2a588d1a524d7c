"""Generate a flight-delay CSV shaped like the seeds' data set (BTS on-time data).

1,114,749 rows and 21 columns by default (~100 MB), with realistic cardinalities:
~15 carriers, ~100 airports, thousands of tail numbers. Deterministic for a seed.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd

SEED_ROWS = 1_114_749
COLUMNS = [
    "YEAR", "QUARTER", "MONTH", "DAY_OF_MONTH", "DAY_OF_WEEK", "UNIQUE_CARRIER", "TAIL_NUM",
    "FL_NUM", "ORIGIN", "DEST", "CRS_DEP_TIME", "DEP_TIME", "DEP_DELAY", "DEP_DELAY_NEW",
    "DEP_DEL15", "DEP_DELAY_GROUP", "CRS_ARR_TIME", "ARR_DELAY", "CRS_ELAPSED_TIME",
    "DISTANCE", "DISTANCE_GROUP",
]  # fmt: skip
TARGET = "ARR_DELAY"
CATEGORICAL = ["UNIQUE_CARRIER", "TAIL_NUM", "ORIGIN", "DEST"]


def _codes(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    letters = np.array(list(string.ascii_uppercase))
    picks = rng.choice(letters, size=(count * 3, length))
    unique = np.unique(np.array(["".join(row) for row in picks]))
    return rng.permutation(unique)[:count]


def _zipf_choice(rng: np.random.Generator, values: np.ndarray, size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(values) + 1) ** 0.9
    return np.asarray(rng.choice(values, size=size, p=weights / weights.sum()))


def _hhmm(minutes: np.ndarray) -> np.ndarray:
    wrapped = np.mod(minutes, 24 * 60)
    return np.asarray((wrapped // 60) * 100 + wrapped % 60)


def generate(rows: int = SEED_ROWS, seed: int = 2016) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    carriers = np.array(
        ["AA", "AS", "B6", "DL", "EV", "F9", "HA", "NK", "OO", "UA", "VX", "WN", "MQ", "YV", "9E"]
    )
    airports = _codes(rng, 100, 3)
    suffixes = np.array(list(string.ascii_uppercase))
    candidates = {
        f"N{number}{a}{b}"
        for number, a, b in zip(
            rng.integers(100, 999, 6000),
            rng.choice(suffixes, 6000),
            rng.choice(suffixes, 6000),
            strict=True,
        )
    }
    tails = rng.permutation(np.array(sorted(candidates)))[:4500]
    month = rng.integers(1, 13, rows)
    origin = _zipf_choice(rng, airports, rows)
    dest = _zipf_choice(rng, airports, rows)
    carrier = _zipf_choice(rng, carriers, rows)
    distance = rng.integers(70, 2700, rows)
    elapsed = (distance / 8 + 25 + rng.normal(0, 8, rows)).round().astype(int)
    crs_dep = rng.integers(5 * 60, 23 * 60, rows)
    carrier_effect = {c: e for c, e in zip(carriers, rng.normal(0, 6, len(carriers)), strict=True)}
    airport_effect = {a: e for a, e in zip(airports, rng.normal(0, 4, len(airports)), strict=True)}
    late_evening = (crs_dep - 5 * 60) / 60.0
    dep_delay = (
        rng.gamma(0.6, 18, rows)
        - 8
        + np.vectorize(carrier_effect.get)(carrier)
        + np.vectorize(airport_effect.get)(origin)
        + 0.8 * late_evening
        + np.where(np.isin(month, [6, 7, 12]), 5, 0)
    ).round() + 0.0  # + 0.0 turns -0.0 into 0.0
    cancelled = rng.random(rows) < 0.015
    arr_delay = dep_delay + rng.normal(-5, 9, rows) + np.vectorize(airport_effect.get)(dest)
    arr_delay = arr_delay.round() + 0.0
    dep_delay_f = np.where(cancelled, np.nan, dep_delay)
    frame = pd.DataFrame(
        {
            "YEAR": 2016,
            "QUARTER": (month - 1) // 3 + 1,
            "MONTH": month,
            "DAY_OF_MONTH": rng.integers(1, 29, rows),
            "DAY_OF_WEEK": rng.integers(1, 8, rows),
            "UNIQUE_CARRIER": carrier,
            "TAIL_NUM": tails[rng.integers(0, len(tails), rows)],
            "FL_NUM": rng.integers(1, 7000, rows),
            "ORIGIN": origin,
            "DEST": dest,
            "CRS_DEP_TIME": _hhmm(crs_dep),
            "DEP_TIME": np.where(cancelled, np.nan, _hhmm(crs_dep + np.nan_to_num(dep_delay_f))),
            "DEP_DELAY": dep_delay_f,
            "DEP_DELAY_NEW": np.where(cancelled, np.nan, np.clip(dep_delay, 0, None)),
            "DEP_DEL15": np.where(cancelled, np.nan, (dep_delay >= 15).astype(float)),
            "DEP_DELAY_GROUP": np.where(
                cancelled, np.nan, np.clip(np.floor(dep_delay / 15), -2, 12) + 0.0
            ),
            "CRS_ARR_TIME": _hhmm(crs_dep + elapsed),
            "ARR_DELAY": np.where(cancelled, np.nan, arr_delay),
            "CRS_ELAPSED_TIME": elapsed.astype(float),
            "DISTANCE": distance.astype(float),
            "DISTANCE_GROUP": np.clip(distance // 250 + 1, 1, 11),
        }
    )
    return frame[COLUMNS]


def write_csv(path: Path, rows: int = SEED_ROWS, seed: int = 2016) -> Path:
    """Write the data set once; reuse an existing file of the same size request."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    # Two decimals on float columns, as the BTS downloads have them ("-3.00").
    generate(rows, seed).to_csv(partial, index=False, float_format="%.2f")
    partial.rename(path)
    return path
