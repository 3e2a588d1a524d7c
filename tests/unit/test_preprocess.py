"""preprocess_file: column decisions, split, statistics from train, channels, contract."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sagepipe.contract import OTHER_CATEGORY, FeatureContract
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreparedRun, PreprocessSettings, preprocess_file

HEADER = "price,rooms,area,city,zip,listing_id,flag,country,constant,note"
ROWS = 200
SETTINGS = PreprocessSettings(max_categories=20, min_rows=20)


def housing_text(rows: int = ROWS, seed: int = 0) -> str:
    """Every price is distinct, so a label identifies its row in the outputs."""
    rng = np.random.default_rng(seed)
    cities = [f"city{i:02d}" for i in range(30)]
    city_weights = 1.0 / np.arange(1, 31)
    city_weights /= city_weights.sum()
    lines = [HEADER]
    for row in range(rows):
        rooms = "" if row % 17 == 0 else str(int(rng.integers(1, 7)))
        area = "NA" if row % 13 == 0 else f"{rng.uniform(20, 200):.2f}"
        city = "" if row % 11 == 0 else str(rng.choice(cities, p=city_weights))
        zip_code = f"{int(rng.integers(0, 4)) * 250 + 501:05d}"
        flag = str(rng.choice(["TRUE", "false", "True"]))
        country = str(rng.choice(["NA", "US", "CA"]))
        note = str(rng.choice(["x", "y", "z"]))
        lines.append(
            f"{1000 + row},{rooms},{area},{city},{zip_code},L{row:05d},{flag},{country},k,{note}"
        )
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run(
    source: Path,
    out_dir: Path,
    settings: PreprocessSettings = SETTINGS,
    **config: Any,
) -> PreparedRun:
    config.setdefault("target", "price")
    return preprocess_file(
        source,
        source_name="s3://bucket/incoming/houses/data.csv",
        model="houses",
        config=PipelineConfig(**config),
        settings=settings,
        out_dir=out_dir,
    )


HOUSING_CONFIG: dict[str, Any] = {
    "categorical_columns": ["zip"],
    "drop_columns": ["note"],
}


def number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.9g}"


def encode_record(contract: FeatureContract, record: dict[str, str]) -> str:
    """What a prediction encoder makes of one raw record: a test-features line.

    Written from docs/design.md alone; a CSV empty field is a missing value.
    """
    dense = contract.content_type == "text/csv"
    fields: list[str] = []
    index = 0
    for column in contract.columns:
        raw = record[column.name]
        if column.kind == "numeric":
            missing = raw in ("", "NA")
            if dense:
                assert column.fill is not None
                fields.append(number_text(column.fill if missing else float(raw)))
            elif not missing:
                fields.append(f"{index}:{number_text(float(raw))}")
            index += 1
            continue
        names = [*column.categories, OTHER_CATEGORY]
        hot = None
        if raw != "":
            hot = column.categories.index(raw) if raw in column.categories else len(names) - 1
        if dense:
            fields.extend("1" if position == hot else "0" for position in range(len(names)))
        elif hot is not None:
            fields.append(f"{index + hot}:1")
        index += len(names)
    return ",".join(fields) if dense else " ".join(["0", *fields])


def records_by_label(source: Path) -> dict[str, dict[str, str]]:
    with source.open(newline="") as handle:
        return {record["price"]: record for record in csv.DictReader(handle)}


def read_lines(out_dir: Path, run_result: PreparedRun, channel: str) -> list[str]:
    return (out_dir / run_result.files[channel]).read_text().splitlines()


def labels_of(lines: list[str], separator: str) -> list[str]:
    return [line.split(separator, 1)[0] for line in lines]


@pytest.mark.parametrize("algorithm", ["xgboost", "linear-learner"])
def test_every_line_is_what_the_contract_makes_of_the_raw_record(
    tmp_path: Path, algorithm: str
) -> None:
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, algorithm=algorithm, **HOUSING_CONFIG)
    records = records_by_label(source)
    separator = " " if algorithm == "xgboost" else ","

    test_labels = read_lines(out, result, "test_labels")
    test_lines = read_lines(out, result, "test_features")
    assert len(test_lines) == len(test_labels) == result.rows["test"]
    for label, line in zip(test_labels, test_lines, strict=True):
        assert line == encode_record(result.contract, records[label])

    # The first training line may end with an explicit zero of the last feature, which
    # keeps an XGBoost model as wide as the contract (see preprocess_channels).
    width_marker = f" {len(result.contract.features) - 1}:0"
    for channel in ("train", "validation"):
        for number, line in enumerate(read_lines(out, result, channel)):
            label, features = line.split(separator, 1)
            expected = encode_record(result.contract, records[label]).removeprefix("0 ")
            if channel == "train" and number == 0 and algorithm == "xgboost":
                assert features in (expected, expected + width_marker)
            else:
                assert features == expected


def test_contract_columns_categories_and_drop_reasons(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    result = run(source, tmp_path / "out", **HOUSING_CONFIG)
    contract = result.contract

    assert contract.column_names == ("rooms", "area", "city", "zip", "flag", "country")
    kinds = {column.name: column.kind for column in contract.columns}
    assert kinds == {
        "rooms": "numeric",
        "area": "numeric",  # "NA" marks a missing number
        "city": "categorical",
        "zip": "categorical",  # declared: kept as the text "00501", not 501
        "flag": "categorical",
        "country": "categorical",
    }
    by_name = {column.name: column for column in contract.columns}
    assert set(by_name["zip"].categories) == {"00501", "00751", "01001", "01251"}
    assert set(by_name["flag"].categories) == {"TRUE", "false", "True"}
    assert set(by_name["country"].categories) == {"NA", "US", "CA"}
    assert len(by_name["city"].categories) == 20
    assert contract.features[:3] == ("rooms", "area", f"city={by_name['city'].categories[0]}")
    assert "city=__other__" in contract.features
    assert contract.missing == "native"
    assert contract.content_type == "text/libsvm"
    assert contract.model == "houses"
    assert contract.target == "price"
    assert contract.algorithm == "xgboost"
    assert {d.name: d.reason for d in contract.dropped} == {
        "listing_id": "identifier-like: 200 distinct values in 200 rows",
        "constant": "constant: every training value is 'k'",
        "note": "listed in drop_columns",
    }
    out = tmp_path / "out"
    assert FeatureContract.from_json((out / "schema.json").read_text()) == contract


def test_statistics_come_from_the_training_rows_only(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, algorithm="linear-learner", **HOUSING_CONFIG)
    frame = pd.read_csv(source, keep_default_na=False, dtype=str)
    train_labels = set(labels_of(read_lines(out, result, "train"), ","))
    train = frame[frame["price"].isin(train_labels)]
    assert len(train) == result.rows["train"]
    by_name = {column.name: column for column in result.contract.columns}

    rooms = pd.to_numeric(train["rooms"].replace("", None)).dropna()
    assert by_name["rooms"].fill == float(np.median(rooms))
    area = pd.to_numeric(train["area"].replace("NA", None)).dropna()
    assert by_name["area"].fill == float(np.median(area))

    counts = Counter(value for value in train["city"] if value)
    ranked = sorted(counts, key=lambda value: (-counts[value], value))
    assert list(by_name["city"].categories) == ranked[:20]


def test_split_is_deterministic_from_the_seed(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    first = run(source, tmp_path / "a", seed=7, **HOUSING_CONFIG)
    run(source, tmp_path / "b", seed=7, **HOUSING_CONFIG)
    other = run(source, tmp_path / "c", seed=8, **HOUSING_CONFIG)
    for channel in ("train", "validation", "test_features", "test_labels", "schema"):
        path = first.files[channel]
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    assert (tmp_path / "a" / first.files["test_labels"]).read_bytes() != (
        tmp_path / "c" / other.files["test_labels"]
    ).read_bytes()
    assert first.rows == {
        "input": 200,
        "dropped_missing_target": 0,
        "train": 140,
        "validation": 20,
        "test": 40,
    }
    all_labels = (
        labels_of(read_lines(tmp_path / "a", first, "train"), " ")
        + labels_of(read_lines(tmp_path / "a", first, "validation"), " ")
        + read_lines(tmp_path / "a", first, "test_labels")
    )
    assert sorted(all_labels) == [str(1000 + row) for row in range(200)]


def test_files_paths_and_profile(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, **HOUSING_CONFIG)
    assert result.files == {
        "train": "data/train/train.libsvm",
        "validation": "data/validation/validation.libsvm",
        "test_features": "data/test/features.libsvm",
        "test_labels": "data/test/labels.csv",
        "schema": "schema.json",
        "profile": "profile.json",
    }
    for path in result.files.values():
        assert (out / path).is_file()
    profile = json.loads((out / "profile.json").read_text())
    assert profile == json.loads(json.dumps(result.profile))
    assert profile["rows"] == result.rows
    assert profile["columns_seen"] == HEADER.split(",")
    columns = {column["name"]: column for column in profile["columns"]}
    assert columns["price"]["role"] == "target"
    assert columns["area"] == {"name": "area", "type": "numeric", "role": "feature", "missing": 16}
    assert columns["listing_id"]["role"] == "dropped"
    assert columns["note"]["role"] == "dropped"
    assert {d["name"] for d in profile["dropped"]} == {"listing_id", "constant", "note"}
    assert set(profile["timings_seconds"]) == {"read", "analyse", "write", "total"}
    train_labels = [float(label) for label in labels_of(read_lines(out, result, "train"), " ")]
    assert profile["train_target_mean"] == pytest.approx(np.mean(train_labels))


def test_linear_learner_writes_dense_csv(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, algorithm="linear-learner", **HOUSING_CONFIG)
    assert result.files["train"] == "data/train/train.csv"
    assert result.files["test_features"] == "data/test/features.csv"
    assert result.contract.missing == "impute"
    assert result.contract.content_type == "text/csv"
    width = len(result.contract.features)
    assert all(line.count(",") == width for line in read_lines(out, result, "train"))
    assert all(line.count(",") == width - 1 for line in read_lines(out, result, "test_features"))
    assert all(
        column.fill is not None for column in result.contract.columns if column.kind == "numeric"
    )


def test_no_validation_channel_when_its_fraction_is_zero(tmp_path: Path) -> None:
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, validation_fraction=0.0, **HOUSING_CONFIG)
    assert "validation" not in result.files
    assert not (out / "data" / "validation").exists()
    assert result.rows["validation"] == 0
    assert result.rows["train"] + result.rows["test"] == 200


def test_rows_without_target_are_dropped_and_counted(tmp_path: Path) -> None:
    lines = housing_text().splitlines()
    for row in (1, 5, 9):
        lines[row] = "," + lines[row].split(",", 1)[1]
    source = write(tmp_path, "\n".join(lines) + "\n")
    result = run(source, tmp_path / "out", **HOUSING_CONFIG)
    assert result.rows["input"] == 200
    assert result.rows["dropped_missing_target"] == 3
    assert result.rows["train"] + result.rows["validation"] + result.rows["test"] == 197


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    text = housing_text()
    plain = run(write(tmp_path, text), tmp_path / "plain", **HOUSING_CONFIG)
    zipped_as_csv = write(tmp_path, gzip.compress(text.encode()), "upload.csv")
    plain_as_gz = write(tmp_path, text, "upload.csv.gz")
    for source in (zipped_as_csv, plain_as_gz):
        out = tmp_path / source.name.replace(".", "_")
        result = run(source, out, **HOUSING_CONFIG)
        assert result.contract == plain.contract
        assert (out / result.files["train"]).read_bytes() == (
            tmp_path / "plain" / plain.files["train"]
        ).read_bytes()


def test_same_output_with_python_strings_as_on_lambda(tmp_path: Path) -> None:
    """Lambda has no pyarrow: pandas then stores text as Python objects."""
    source = write(tmp_path, housing_text())
    default = run(source, tmp_path / "default", **HOUSING_CONFIG)
    with pd.option_context("mode.string_storage", "python"):
        python = run(source, tmp_path / "python", **HOUSING_CONFIG)
    assert python.contract == default.contract
    for channel in ("train", "validation", "test_features", "test_labels"):
        path = default.files[channel]
        assert (tmp_path / "python" / path).read_bytes() == (
            tmp_path / "default" / path
        ).read_bytes()


def test_categories_are_bounded_and_ties_broken_by_value(tmp_path: Path) -> None:
    # Every color occurs exactly 4 times, so only the value decides the order.
    colors = [f"c{index}" for index in range(10)]
    lines = ["y,x,color"] + [f"{row},{row % 7},{colors[row % 10]}" for row in range(40)]
    source = write(tmp_path, "\n".join(lines) + "\n")
    result = run(
        source,
        tmp_path / "out",
        PreprocessSettings(max_categories=3, min_rows=20),
        target="y",
        test_fraction=0.25,
        validation_fraction=0.0,
    )
    categories = {column.name: column.categories for column in result.contract.columns}
    assert len(categories["color"]) == 3
    frame = pd.read_csv(tmp_path / "out" / result.files["train"], sep=" ", header=None)
    train_colors = Counter(colors[int(label) % 10] for label in frame[0])
    ranked = sorted(train_colors, key=lambda value: (-train_colors[value], value))
    assert list(categories["color"]) == ranked[:3]


def test_declared_categorical_is_never_taken_for_an_identifier(tmp_path: Path) -> None:
    lines = ["y,code,x"] + [f"{row},{row:04d},{row % 5}" for row in range(30)]
    source = write(tmp_path, "\n".join(lines) + "\n")
    declared = run(source, tmp_path / "a", target="y", categorical_columns=["code"])
    inferred = run(source, tmp_path / "b", target="y")
    assert declared.contract.column_names == ("code", "x")
    assert len(declared.contract.columns[0].categories) == 20
    assert declared.contract.columns[0].categories[0] == "0000"
    assert inferred.contract.column_names == ("code", "x")  # numeric when not declared
    assert inferred.contract.columns[0].kind == "numeric"


def test_constant_and_empty_columns_are_dropped_with_reasons(tmp_path: Path) -> None:
    lines = ["y,x,same,empty,word"] + [f"{row},{row % 3},5,,w" for row in range(30)]
    source = write(tmp_path, "\n".join(lines) + "\n")
    result = run(source, tmp_path / "out", target="y")
    assert {d.name: d.reason for d in result.contract.dropped} == {
        "same": "constant: every training value is 5",
        "empty": "constant: no values in the training rows",
        "word": "constant: every training value is 'w'",
    }


@pytest.mark.filterwarnings("ignore:.*Text file input has been deprecated")
def test_xgboost_reads_the_channels(tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    source = write(tmp_path, housing_text())
    out = tmp_path / "out"
    result = run(source, out, **HOUSING_CONFIG)
    features = len(result.contract.features)
    train = xgboost.DMatrix(f"{out / result.files['train']}?format=libsvm")
    test = xgboost.DMatrix(f"{out / result.files['test_features']}?format=libsvm")
    assert train.num_row() == result.rows["train"]
    assert test.num_row() == result.rows["test"]
    assert train.num_col() <= features
    labels = [float(line.split(" ", 1)[0]) for line in read_lines(out, result, "train")]
    assert train.get_label().tolist() == labels
    booster = xgboost.train({"max_depth": 2}, train, num_boost_round=2)
    assert booster.predict(test).shape == (result.rows["test"],)
