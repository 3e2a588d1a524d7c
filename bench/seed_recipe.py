"""The seeds' preprocessing, kept as the benchmark's baseline.

pandas read_csv, get_dummies per categorical column, a random split and to_csv of each
channel (label first, no header). TAIL_NUM (thousands of values) is dropped rather than
one-hot encoded: its ~4,500 dummy columns would not fit the baseline in memory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.flights import TARGET

ONE_HOT = ("UNIQUE_CARRIER", "ORIGIN", "DEST")


def run_seed_recipe(source: Path, out_dir: Path, seed: int = 42) -> None:
    frame = pd.read_csv(source)
    frame = frame.dropna(subset=[TARGET]).drop(columns=["TAIL_NUM"])
    for column in ONE_HOT:
        dummies = pd.get_dummies(frame[column], prefix=column)
        frame = pd.concat([frame.drop(columns=[column]), dummies], axis=1)
    frame = frame[[TARGET, *[c for c in frame.columns if c != TARGET]]]
    shuffled = frame.sample(frac=1.0, random_state=seed)
    test_end = int(len(shuffled) * 0.2)
    validation_end = test_end + int(len(shuffled) * 0.1)
    out_dir.mkdir(parents=True, exist_ok=True)
    shuffled.iloc[validation_end:].to_csv(out_dir / "train.csv", header=False, index=False)
    shuffled.iloc[test_end:validation_end].to_csv(
        out_dir / "validation.csv", header=False, index=False
    )
    test = shuffled.iloc[:test_end]
    test.drop(columns=[TARGET]).to_csv(out_dir / "test.csv", header=False, index=False)
    test[[TARGET]].to_csv(out_dir / "labels.csv", header=False, index=False)
