"""The channel text: exact lines for hand-checked rows, and the number format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sagepipe.preprocess_channels import (
    CodedNumbers,
    NumericChannelColumn,
    OneHotChannelColumn,
    PlainNumbers,
    encode_numbers,
    format_numbers,
    write_channel,
    write_numbers,
)

NAN = float("nan")


def reference_number_text(value: float) -> str:
    """The documented rule, as the prediction encoder applies it to one value."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.9g}"


def texts(matrix: np.ndarray) -> list[str]:
    return [bytes(row[row != 0]).decode("ascii") for row in matrix]


# Rows 0..3 of a frame: label, "rooms" (numeric) and "city" with categories
# ("a", "b") + __other__. Row 2 has no rooms; row 3 has no city.
LABELS = np.array([250.0, 99.5, -3.0, 1e-05])
ROOMS = np.array([3.0, 0.0, NAN, 2.25])
# positions: 0 = "a", 1 = "b", 2 = __other__ (an unseen city), -1 = missing
CITY = np.array([1, 2, 0, -1], dtype=np.int8)
ROOMS_FILL = 2.5


def hand_checked_columns(coded: bool) -> list[NumericChannelColumn | OneHotChannelColumn]:
    rooms = encode_numbers(ROOMS) if coded else PlainNumbers(ROOMS)
    return [
        NumericChannelColumn(rooms, feature_index=0, fill=ROOMS_FILL),
        OneHotChannelColumn(CITY, feature_index=1, width=3),
    ]


@pytest.mark.parametrize("coded", [True, False])
def test_libsvm_lines_label_first_zero_based_indices_missing_absent(
    tmp_path: Path, coded: bool
) -> None:
    # features: 0 rooms, 1 city=a, 2 city=b, 3 city=__other__
    columns = hand_checked_columns(coded)
    rows = np.arange(4)
    train = tmp_path / "train.libsvm"
    test = tmp_path / "features.libsvm"
    written = write_channel(
        train, rows=rows, columns=columns, labels=encode_numbers(LABELS), style="libsvm"
    )
    write_channel(test, rows=rows, columns=columns, labels=None, style="libsvm")

    assert train.read_text() == ("250 0:3 2:1\n99.5 0:0 3:1\n-3 1:1\n1e-05 0:2.25\n")
    assert written == train.stat().st_size
    # Test features and prediction requests: placeholder label "0", same features.
    assert test.read_text() == ("0 0:3 2:1\n0 0:0 3:1\n0 1:1\n0 0:2.25\n")


@pytest.mark.parametrize("coded", [True, False])
def test_dense_csv_lines_label_first_fill_for_missing_one_hot(tmp_path: Path, coded: bool) -> None:
    columns = hand_checked_columns(coded)
    rows = np.arange(4)
    train = tmp_path / "train.csv"
    test = tmp_path / "features.csv"
    write_channel(train, rows=rows, columns=columns, labels=encode_numbers(LABELS), style="csv")
    write_channel(test, rows=rows, columns=columns, labels=None, style="csv")

    assert train.read_text() == ("250,3,0,1,0\n99.5,0,0,0,1\n-3,2.5,1,0,0\n1e-05,2.25,0,0,0\n")
    assert test.read_text() == ("3,0,1,0\n0,0,0,1\n2.5,1,0,0\n2.25,0,0,0\n")


def test_lines_follow_the_row_order_given(tmp_path: Path) -> None:
    columns = hand_checked_columns(coded=True)
    path = tmp_path / "train.libsvm"
    write_channel(
        path, rows=np.array([3, 0]), columns=columns, labels=encode_numbers(LABELS), style="libsvm"
    )
    assert path.read_text() == "1e-05 0:2.25\n250 0:3 2:1\n"


def test_labels_file_one_number_per_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    write_numbers(path, rows=np.array([2, 1, 0]), numbers=encode_numbers(LABELS))
    assert path.read_text() == "-3\n99.5\n250\n"


def test_a_row_without_any_feature_is_just_the_label(tmp_path: Path) -> None:
    columns = [NumericChannelColumn(PlainNumbers(np.array([NAN])), 0, 1.0)]
    path = tmp_path / "features.libsvm"
    write_channel(path, rows=np.arange(1), columns=columns, labels=None, style="libsvm")
    assert path.read_text() == "0\n"


def test_many_lines_span_chunks(tmp_path: Path) -> None:
    count = 70_000  # more than one chunk
    values = np.arange(count, dtype=np.float64) / 4
    columns = [NumericChannelColumn(encode_numbers(values), 0, 0.0)]
    path = tmp_path / "train.libsvm"
    write_channel(
        path, rows=np.arange(count), columns=columns, labels=encode_numbers(values), style="libsvm"
    )
    lines = path.read_text().splitlines()
    assert len(lines) == count
    assert lines[69_999] == "17499.75 0:17499.75"


NUMBER_CASES = [
    0.0,
    -0.0,
    1.0,
    -12.0,
    3.5,
    0.1,
    0.1 + 0.2,
    1e-4,
    9.99e-5,
    1e-05,
    123456.789,
    2.0**53 - 1,
    2.0**53,
    1e16,
    1.5e300,
    -7.25e-300,
    5e-324,
    4503599627370495.5,
    99999999.5,
    99999999.75,
    1e8 + 0.5,
    0.000123456789,
    0.0001234567891,
    123.456789,
    123.4567891,
    1234567.891,
    12345678.9,
    1e9,
    1e9 + 0.5,
]


def test_number_text_is_integer_or_9_significant_digits() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            np.array(NUMBER_CASES),
            rng.normal(0, 1000, 3000),
            np.round(rng.normal(0, 100, 3000), 3),
            rng.integers(-(10**9), 10**9, 1000).astype(np.float64),
            10.0 ** rng.uniform(-8, 18, 3000) * rng.choice([-1.0, 1.0], 3000),
            np.round(10.0 ** rng.uniform(-5, 9, 3000), 4),
        ]
    )
    assert texts(format_numbers(values)) == [reference_number_text(float(v)) for v in values]


def test_number_text_keeps_every_float32() -> None:
    singles = np.random.default_rng(6).normal(0, 1000, 1000).astype(np.float32)
    read_back = [float(text) for text in texts(format_numbers(singles.astype(np.float64)))]
    assert np.array_equal(np.array(read_back, dtype=np.float32), singles)


def test_encode_numbers_codes_repeated_values_and_keeps_many_plain() -> None:
    whole = encode_numbers(np.array([3.0, NAN, 5.0, 3.0]))
    assert isinstance(whole, CodedNumbers)
    assert whole.levels[whole.codes[[0, 2, 3]]].tolist() == [3.0, 5.0, 3.0]
    assert whole.codes[1] == -1

    repeated = encode_numbers(np.array([0.5, 0.25, 0.5, 0.5, 0.25, NAN, 0.5, 0.25, 0.5]))
    assert isinstance(repeated, CodedNumbers)
    assert repeated.levels[repeated.codes[:2]].tolist() == [0.5, 0.25]

    spread = np.random.default_rng(1).normal(size=100)
    assert isinstance(encode_numbers(spread), PlainNumbers)
    assert isinstance(encode_numbers(np.array([NAN, NAN])), CodedNumbers)


def test_xgboost_model_is_as_wide_as_the_contract(tmp_path: Path) -> None:
    """The last one-hot block's "__other__" is in no training row: the training channel
    still carries the highest index, so XGBoost accepts every row the contract encodes."""
    import xgboost as xgb

    from sagepipe.pipeline_config import PipelineConfig
    from sagepipe.prediction import RecordEncoder
    from sagepipe.preprocess import PreprocessSettings, preprocess_file

    rows = [f"{i % 17},{['a', 'b', 'c'][i % 3]},{i * 0.5 + (i % 3)}" for i in range(200)]
    source = tmp_path / "data.csv"
    source.write_text("x,colour,y\n" + "\n".join(rows) + "\n")
    prepared = preprocess_file(
        source,
        source_name="data.csv",
        model="m",
        config=PipelineConfig(target="y"),
        settings=PreprocessSettings(),
        out_dir=tmp_path / "out",
    )
    contract = prepared.contract
    assert contract.features[-1] == "colour=__other__"
    train = xgb.DMatrix(f"{tmp_path / 'out' / prepared.files['train']}?format=libsvm")
    assert train.num_col() == len(contract.features)
    booster = xgb.train({"max_depth": 2, "min_child_weight": 6}, train, num_boost_round=3)
    unseen = RecordEncoder(contract).encode([{"x": 3, "colour": "never-seen"}])
    request = tmp_path / "request.libsvm"
    request.write_bytes(unseen.body + b"\n")
    assert booster.predict(xgb.DMatrix(f"{request}?format=libsvm")).shape == (1,)
