"""A prediction request encodes exactly like preprocessing writes its test-features channel.

The raw test rows of a generated CSV, sent as a client would send them (JSON numbers,
strings, null), must encode to the lines of data/test/features.* that preprocess_file
wrote for the same rows. The target is unique per row, so data/test/labels.csv maps each
features line back to its CSV row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagepipe.contract import FeatureContract
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.prediction import RecordEncoder, parse_instances
from sagepipe.preprocess import PreprocessSettings, preprocess_file
from sagepipe.preprocess_read import MISSING_TEXT

ROWS = 300


def housing_csv(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    cities = [f"city{i:02d}" for i in range(30)]
    weights = 1.0 / np.arange(1, 31)
    lines = ["price,rooms,area,tiny,epoch,balance,city,zip,listing_id,note,constant"]
    for row in range(ROWS):
        rooms = "" if row % 17 == 0 else str(int(rng.integers(0, 7)))
        area = "NA" if row % 13 == 0 else f"{rng.uniform(20, 200):.2f}"
        tiny = f"{rng.uniform(-1, 1) * 1e-5:.6g}"
        epoch = str(int(rng.integers(1_400_000_000, 1_800_000_000)))
        balance = str(rng.choice(["-0.0", "0", f"{rng.normal(0, 1e6):.4f}", "1e+16"]))
        city = "" if row % 11 == 0 else str(rng.choice(cities, p=weights / weights.sum()))
        zip_code = f"{int(rng.integers(0, 5)) * 250 + 501:05d}"
        note = str(rng.choice(["NA", "x", "y"]))
        lines.append(
            f"{1000 + row},{rooms},{area},{tiny},{epoch},{balance},{city},{zip_code},"
            f"L{row:05d},{note},k"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def client_value(contract: FeatureContract, column: str, text: str) -> Any:
    """What a client sends for a CSV cell: a JSON number, a string, or null."""
    spec = next(c for c in contract.columns if c.name == column)
    if spec.kind == "categorical":
        return text or None
    if text in MISSING_TEXT:
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_line(line: str, style: str) -> dict[int, float]:
    if style == "libsvm":
        label, *entries = line.split(" ")
        assert label == "0"
        return {int(k): float(v) for k, v in (entry.split(":") for entry in entries)}
    return dict(enumerate(float(v) for v in line.split(",")))


@pytest.mark.parametrize("algorithm", ["xgboost", "linear-learner"])
@pytest.mark.parametrize("seed", [0, 1])
def test_requests_encode_like_the_test_features_channel(
    tmp_path: Path, algorithm: str, seed: int
) -> None:
    source = housing_csv(tmp_path / "data.csv", seed)
    out_dir = tmp_path / "out"
    prepared = preprocess_file(
        source,
        source_name="s3://bucket/incoming/housing/data.csv",
        model="housing",
        config=PipelineConfig(
            target="price",
            algorithm=algorithm,  # type: ignore[arg-type]
            categorical_columns=["zip"],
            drop_columns=["note"],
        ),
        settings=PreprocessSettings(max_categories=8, min_rows=20),
        out_dir=out_dir,
    )
    contract = prepared.contract
    assert {d.name for d in contract.dropped} >= {"listing_id", "note", "constant"}

    with source.open(newline="", encoding="utf-8") as handle:
        by_price = {row["price"]: row for row in csv.DictReader(handle)}
    labels = (out_dir / prepared.files["test_labels"]).read_text().splitlines()
    expected = (out_dir / prepared.files["test_features"]).read_text().splitlines()
    assert len(labels) == len(expected) > 0

    # The whole raw row goes out, dropped columns included; only the target is left out.
    records = [
        {
            name: client_value(contract, name, text) if name in contract.column_names else text
            for name, text in by_price[label].items()
            if name != "price"
        }
        for label in labels
    ]
    instances = parse_instances(json.dumps({"instances": records}), 10_000)
    batch = RecordEncoder(contract).encode(instances)
    encoded = batch.body.decode().split("\n")
    assert batch.content_type == contract.content_type

    style = "libsvm" if contract.content_type == "text/libsvm" else "csv"
    for ours, theirs in zip(encoded, expected, strict=True):
        ours_values, their_values = parse_line(ours, style), parse_line(theirs, style)
        assert ours_values.keys() == their_values.keys()
        for index, value in their_values.items():
            assert np.float32(ours_values[index]) == np.float32(value), (index, ours, theirs)
    # The design promises more than float32 agreement: the same text.
    assert encoded == expected
