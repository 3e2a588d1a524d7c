"""Prediction requests: parsing, validation, encoding with a contract, answer decoding."""

from __future__ import annotations

import contextlib
import gc
import json
import random
from typing import Any

import pytest

from sagepipe import prediction
from sagepipe.contract import ColumnSpec, DroppedColumn, FeatureContract
from sagepipe.errors import EndpointFailureError, RequestError
from sagepipe.prediction import (
    MAX_PAYLOAD_BYTES,
    RecordEncoder,
    decode_predictions,
    describe_contract,
    number_text,
    parse_instances,
)

COLUMNS = (
    ColumnSpec("rooms", "numeric", fill=3.0),
    ColumnSpec("city", "categorical", categories=("a", "b")),
    ColumnSpec("area", "numeric", fill=75.5),
    ColumnSpec("zip", "categorical", categories=("00501", "7")),
)
# features: 0 rooms, 1 city=a, 2 city=b, 3 city=__other__, 4 area,
#           5 zip=00501, 6 zip=7, 7 zip=__other__
DROPPED = (DroppedColumn("listing_id", "identifier-like: 200 distinct values in 200 rows"),)


def xgboost_contract() -> FeatureContract:
    return FeatureContract(
        model="housing",
        target="price",
        algorithm="xgboost",
        columns=COLUMNS,
        missing="native",
        content_type="text/libsvm",
        dropped=DROPPED,
    )


def linear_contract() -> FeatureContract:
    return FeatureContract(
        model="housing",
        target="price",
        algorithm="linear-learner",
        columns=COLUMNS,
        missing="impute",
        content_type="text/csv",
        dropped=DROPPED,
    )


def record(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"rooms": 3, "city": "a", "area": 80.25, "zip": "00501"}
    base.update(values)
    return base


def lines(contract: FeatureContract, records: list[Any]) -> list[str]:
    return RecordEncoder(contract).encode(records).body.decode().split("\n")


def request_error(contract: FeatureContract, records: list[Any]) -> str:
    with pytest.raises(RequestError) as caught:
        RecordEncoder(contract).encode(records)
    return str(caught.value)


# --- parse_instances -----------------------------------------------------------------


def test_parse_returns_the_instances() -> None:
    body = json.dumps({"instances": [record(), record(rooms=None)]})
    assert parse_instances(body, 10) == [record(), record(rooms=None)]
    assert parse_instances(body.encode(), 10) == [record(), record(rooms=None)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00{", "not"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('"text"', "must be a JSON object, got string"),
        ("{}", "no 'instances' field"),
        ('{"rows": []}', "no 'instances' field"),
        ('{"instances": [], "extra": 1}', "unknown field 'extra'"),
        ('{"instances": {"rooms": 1}}', "'instances' must be an array of row objects"),
        ('{"instances": []}', "'instances' is empty"),
    ],
)
def test_parse_rejects_bad_shapes(body: str | bytes, expected: str) -> None:
    with pytest.raises(RequestError, match=expected):
        parse_instances(body, 10)


def test_parse_rejects_too_many_rows_and_says_how_many_fit() -> None:
    body = json.dumps({"instances": [record()] * 11})
    with pytest.raises(RequestError, match="has 11 rows; at most 10 rows fit"):
        parse_instances(body, 10)


def test_parse_rejects_a_body_over_6_mb() -> None:
    body = '{"instances": [' + " " * MAX_PAYLOAD_BYTES + "]}"
    with pytest.raises(RequestError, match=f"limit is {MAX_PAYLOAD_BYTES} bytes"):
        parse_instances(body, 10)
    with pytest.raises(RequestError, match=f"limit is {MAX_PAYLOAD_BYTES} bytes"):
        parse_instances(body.encode(), 10)


def test_parse_counts_utf8_bytes_not_characters() -> None:
    city = "\u00e9" * (MAX_PAYLOAD_BYTES // 2)  # 2 bytes each: over the limit as UTF-8
    body = json.dumps({"instances": [{"city": city}]}, ensure_ascii=False)
    assert len(body) < MAX_PAYLOAD_BYTES
    with pytest.raises(RequestError, match=r"request body is \d+ bytes"):
        parse_instances(body, 10)


def test_parse_rejects_deep_nesting_as_a_bad_request() -> None:
    with pytest.raises(RequestError, match="nested too deeply"):
        parse_instances('{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}", 10)


# --- encoding: XGBoost, text/libsvm ----------------------------------------------------


def test_libsvm_line_placeholder_label_zero_based_indices_one_hot_ones_only() -> None:
    assert lines(xgboost_contract(), [record()]) == ["0 0:3 1:1 4:80.25 5:1"]


def test_libsvm_writes_zero_and_leaves_missing_numbers_out() -> None:
    assert lines(xgboost_contract(), [record(rooms=0, area=None)]) == ["0 0:0 1:1 5:1"]


def test_libsvm_unseen_category_is_other_and_null_or_empty_is_no_feature() -> None:
    assert lines(xgboost_contract(), [record(city="z", zip=None)]) == ["0 0:3 3:1 4:80.25"]
    assert lines(xgboost_contract(), [record(city="", zip="")]) == ["0 0:3 4:80.25"]


def test_integer_category_matches_its_decimal_spelling_only() -> None:
    assert lines(xgboost_contract(), [record(zip=7)]) == ["0 0:3 1:1 4:80.25 6:1"]
    # "00501" is a category, 501 is not its spelling.
    assert lines(xgboost_contract(), [record(zip=501)]) == ["0 0:3 1:1 4:80.25 7:1"]


def test_every_row_becomes_one_line_in_order() -> None:
    records = [record(rooms=i) for i in range(5)]
    assert [line.split()[1] for line in lines(xgboost_contract(), records)] == [
        f"0:{i}" for i in range(5)
    ]


def test_columns_are_taken_by_name_not_position() -> None:
    shuffled = {"zip": "7", "area": 1.5, "city": "b", "rooms": 2}
    assert lines(xgboost_contract(), [shuffled]) == ["0 0:2 2:1 4:1.5 6:1"]


def test_dropped_columns_may_be_sent_and_are_ignored() -> None:
    rows = [record(listing_id="L00001"), record()]
    assert lines(xgboost_contract(), rows) == ["0 0:3 1:1 4:80.25 5:1"] * 2


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (-12, "-12"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.3"),
        (2.5e-05, "2.5e-05"),
        (1500000000.0, "1500000000"),
        (1500000000, "1500000000"),
        (123456789.5, "123456790"),
        (2.0**53, "9.00719925e+15"),
        (2**53, "9.00719925e+15"),
        (2**53 - 1, "9007199254740991"),
        (1e16, "1e+16"),
        (-1e300, "-1e+300"),
    ],
)
def test_numbers_are_written_like_preprocessing_writes_them(value: float, text: str) -> None:
    assert number_text(value) == text
    assert lines(xgboost_contract(), [record(rooms=value)]) == [f"0 0:{text} 1:1 4:80.25 5:1"]
    # The same value among others in its column (the column-wide format path).
    column = lines(xgboost_contract(), [record(rooms=value), record(rooms=1.5), record(rooms=2)])
    assert column[0] == f"0 0:{text} 1:1 4:80.25 5:1"
    assert column[1].startswith("0 0:1.5 ")
    assert column[2].startswith("0 0:2 ")


# --- encoding: Linear Learner, dense text/csv -----------------------------------------


def test_csv_line_is_dense_without_label() -> None:
    assert lines(linear_contract(), [record()]) == ["3,1,0,0,80.25,1,0,0"]


def test_csv_imputes_the_fill_and_one_hot_is_0_or_1() -> None:
    rows = [record(rooms=None, city="z", area=None, zip=None)]
    assert lines(linear_contract(), rows) == ["3,0,0,1,75.5,0,0,0"]


def test_csv_and_libsvm_agree_on_number_text() -> None:
    rows = [record(rooms=-0.0, area=1500000000.0), record(rooms=0.1, area=2**60)]
    assert lines(linear_contract(), rows) == [
        "0,1,0,0,1500000000,1,0,0",
        "0.1,1,0,0,1.1529215e+18,1,0,0",
    ]


# --- validation: every message names the row and the column ---------------------------


@pytest.mark.parametrize(
    ("bad", "column", "reason"),
    [
        ({"rooms": "3"}, "rooms", "expected a finite number or null, got string '3'"),
        ({"rooms": True}, "rooms", "got boolean true"),
        ({"rooms": [1]}, "rooms", "got an array"),
        ({"rooms": {"v": 1}}, "rooms", "got an object"),
        ({"rooms": float("nan")}, "rooms", "expected a finite number"),
        ({"area": float("inf")}, "area", "expected a finite number"),
        ({"area": 10**400}, "area", "a number out of range"),
        ({"city": 1.5}, "city", "expected a string, an integer or null, got number 1.5"),
        ({"city": False}, "city", "got boolean false"),
        ({"zip": ["7"]}, "zip", "got an array"),
    ],
)
def test_wrong_types_name_row_and_column(bad: dict[str, Any], column: str, reason: str) -> None:
    rows = [record(), record(), record(**bad)]
    for contract in (xgboost_contract(), linear_contract()):
        message = request_error(contract, rows)
        assert message.startswith(f"row 2 (instances[2]), column {column!r}: ")
        assert reason in message


def test_missing_column_names_row_and_column() -> None:
    row = record()
    del row["area"]
    message = request_error(xgboost_contract(), [record(), row])
    assert message == (
        "row 1 (instances[1]), column 'area': missing: every column is required "
        "(send null for an unknown value)"
    )


def test_unknown_column_names_row_column_and_the_expected_ones() -> None:
    message = request_error(xgboost_contract(), [record(colour="red")])
    assert message == (
        "row 0 (instances[0]), column 'colour': unknown column; the model expects "
        "'rooms', 'city', 'area', 'zip'"
    )


def test_the_target_must_be_left_out() -> None:
    message = request_error(xgboost_contract(), [record(), record(price=100)])
    assert message == (
        "row 1 (instances[1]), column 'price': is the target the model predicts: leave it out"
    )


def test_a_row_that_is_not_an_object_is_named() -> None:
    message = request_error(xgboost_contract(), [record(), [3, "a", 80.25, "7"]])
    assert message == "row 1 (instances[1]): expected an object of column values, got an array"


def test_the_first_bad_row_is_reported() -> None:
    rows = [record(), record(rooms="x"), record(city=2.5)]
    assert request_error(xgboost_contract(), rows).startswith(
        "row 1 (instances[1]), column 'rooms'"
    )


def test_nan_and_infinity_in_the_json_text_are_rejected_with_row_and_column() -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = '{"instances": [{"rooms": 1, "city": "a", "area": ' + constant + ', "zip": null}]}'
        instances = parse_instances(body, 10)
        message = request_error(xgboost_contract(), instances)
        assert message == (
            f"row 0 (instances[0]), column 'area': expected a finite number or null, "
            f"got {constant} (not a finite number)"
        )


def test_a_json_number_too_large_for_a_double_is_rejected() -> None:
    instances = parse_instances(
        '{"instances": [{"rooms": 1e999, "city": "a", "area": 1, "zip": "7"}]}', 10
    )
    assert "column 'rooms': expected a finite number" in request_error(
        xgboost_contract(), instances
    )


def test_long_strings_in_messages_are_shortened() -> None:
    message = request_error(xgboost_contract(), [record(rooms="x" * 500)])
    assert len(message) < 200


# --- size -------------------------------------------------------------------------------


def test_an_encoded_batch_over_the_endpoint_limit_says_how_many_rows_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prediction, "MAX_PAYLOAD_BYTES", 100)
    encoder = RecordEncoder(xgboost_contract())
    one_line = len(encoder.encode([record()]).body)  # 21 bytes
    with pytest.raises(RequestError) as caught:
        encoder.encode([record()] * 10)
    message = str(caught.value)
    assert "over the endpoint's limit of 100 bytes" in message
    assert f"send at most about {100 // (one_line + 1)} rows per request" in message


def test_encoded_batch_reports_rows_and_content_type() -> None:
    batch = RecordEncoder(linear_contract()).encode([record()] * 3)
    assert (batch.rows, batch.content_type) == (3, "text/csv")
    assert batch.body.count(b"\n") == 2  # no trailing newline


# --- the column-wise encoder against a cell-by-cell reading of the design doc ----------


def reference_number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.9g}"


def reference_line(contract: FeatureContract, row: dict[str, Any]) -> str:
    """docs/design.md "Channel formats", one cell at a time."""
    entries: list[str] = []
    dense: list[str] = []
    index = 0
    for spec in contract.columns:
        value = row[spec.name]
        if spec.kind == "numeric":
            if value is None and contract.missing == "impute":
                assert spec.fill is not None
                value = spec.fill
            if value is not None:
                entries.append(f"{index}:{reference_number(value)}")
            dense.append(reference_number(value) if value is not None else "")
            index += 1
            continue
        width = len(spec.categories) + 1
        text = str(value) if isinstance(value, int) else value
        hot = None
        if text not in (None, ""):
            hot = spec.categories.index(text) if text in spec.categories else width - 1
            entries.append(f"{index + hot}:1")
        dense.extend("1" if position == hot else "0" for position in range(width))
        index += width
    if contract.content_type == "text/libsvm":
        return " ".join(["0", *entries])
    return ",".join(dense)


def random_row(rng: random.Random) -> dict[str, Any]:
    def number() -> Any:
        return rng.choice(
            [
                None,
                0,
                -0.0,
                rng.randint(-5, 5),
                rng.randint(-(2**60), 2**60),
                rng.uniform(-1e3, 1e3),
                round(rng.uniform(0, 100), 2),
                rng.uniform(-1e12, 1e12),
                float(rng.randint(1_000_000_000, 2_000_000_000)),
                rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30),
                float(rng.randint(-3000, 3000)),
                float(rng.randint(2**53 - 2, 2**53 + 2)),
            ]
        )

    return {
        "rooms": number(),
        "city": rng.choice([None, "", "a", "b", "c", "A", " a"]),
        "area": number(),
        "zip": rng.choice([None, "00501", "501", 501, 7, "7", "07", -7, "x"]),
    }


@pytest.mark.parametrize("seed", range(20))
def test_batches_encode_exactly_like_the_cell_by_cell_reference(seed: int) -> None:
    rng = random.Random(seed)
    rows = [random_row(rng) for _ in range(rng.choice([1, 2, 7, 50]))]
    if seed % 3 == 0:
        for row in rows:  # a column without nulls, all integers or all floats
            row["rooms"] = rng.randint(-100, 100) if seed % 2 else rng.uniform(-9, 9)
    if seed % 4 == 1:
        for row in rows:  # whole floats, as many JSON clients write integers, and nulls
            row["area"] = rng.choice([None, float(rng.randint(-3000, 3000)), -0.0])
    body = json.dumps({"instances": rows})
    for contract in (xgboost_contract(), linear_contract()):
        expected = [reference_line(contract, row) for row in rows]
        assert lines(contract, rows) == expected
        batch = RecordEncoder(contract).encode_request(body, 100)
        assert batch.body.decode().split("\n") == expected


def encode_both_ways(contract: FeatureContract, body: str) -> tuple[str, str]:
    """What encode_request and the reference path (parse_instances, encode) make of a
    body: the batch's text, or the error message."""
    outcomes = []
    for encode in (
        lambda: RecordEncoder(contract).encode_request(body, 3),
        lambda: RecordEncoder(contract).encode(parse_instances(body, 3)),
    ):
        try:
            outcomes.append(encode().body.decode())
        except RequestError as error:
            outcomes.append(f"RequestError: {error}")
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [{"rooms": 1, "city": "a", "area": 2.0, "zip": 7}]}',
        '{"instances": [{"rooms": 1, "city": "a", "area": 2.5, "zip": null, "listing_id": [1]}]}',
        '{"instances": [{"rooms": true, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1, "city": false, "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1, "city": 1.0, "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": NaN, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1e999, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1' + "0" * 400 + ', "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 9007199254740993, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1, "city": "a", "area": 2}]}',
        '{"instances": [{"rooms": 1, "city": "a", "area": 2, "zip": "7", "price": 3}]}',
        '{"instances": [{"rooms": 1, "rooms": 2, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": [{"rooms": 1, "city": "\\ud800", "area": 2, "zip": "7"}]}',
        '{"instances": [[1, "a", 2, "7"]]}',
        '{"instances": [], "instances": [{"rooms": 1, "city": "a", "area": 2, "zip": "7"}]}',
        '{"instances": []}',
        '{"instances": [{}, {}, {}, {}]}',
        '{"instances": {}}',
        '{"rows": []}',
        "[]",
        "{",
    ],
)
def test_the_typed_parser_and_the_reference_path_agree(body: str) -> None:
    for contract in (xgboost_contract(), linear_contract()):
        fast, reference = encode_both_ways(contract, body)
        assert fast == reference


def test_contract_with_one_column() -> None:
    contract = FeatureContract(
        model="m",
        target="y",
        algorithm="xgboost",
        columns=(ColumnSpec("x", "numeric", fill=0.0),),
        missing="native",
        content_type="text/libsvm",
    )
    assert lines(contract, [{"x": 1.5}, {"x": None}]) == ["0 0:1.5", "0"]


def test_csv_needs_impute_and_a_fill() -> None:
    broken = FeatureContract(
        model="m",
        target="y",
        algorithm="linear-learner",
        columns=(ColumnSpec("x", "numeric", fill=None),),
        missing="impute",
        content_type="text/csv",
    )
    with pytest.raises(ValueError, match="no finite fill"):
        RecordEncoder(broken)


# --- describe ---------------------------------------------------------------------------


def test_describe_contract_lists_columns_types_categories_and_ignored() -> None:
    described = describe_contract(xgboost_contract())
    assert described["columns"] == [
        {"name": "rooms", "type": "number", "nullable": True},
        {"name": "city", "type": "category", "nullable": True, "categories": ["a", "b"]},
        {"name": "area", "type": "number", "nullable": True},
        {"name": "zip", "type": "category", "nullable": True, "categories": ["00501", "7"]},
    ]
    assert described["ignored_columns"] == ["listing_id"]
    assert "'price'" in described["notes"]


# --- decoding the endpoint's answer ------------------------------------------------------


def test_decode_json_scores() -> None:
    body = b'{"predictions": [{"score": 0.5}, {"score": 2}, {"score": -1.25}]}'
    assert decode_predictions(body, "application/json", 3) == [0.5, 2.0, -1.25]
    assert decode_predictions(b'{"predictions": [1.5]}', "application/json; charset=utf-8", 1) == [
        1.5
    ]


def test_decode_csv_one_per_line_or_comma_separated() -> None:
    assert decode_predictions(b"0.5\n2\n-1.25\n", "text/csv", 3) == [0.5, 2.0, -1.25]
    assert decode_predictions(b"0.5,2,-1.25", "text/csv; charset=utf-8", 3) == [0.5, 2.0, -1.25]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"predictions": [{"score": 1}]}', "application/json", "1 predictions for 2 rows"),
        (b"1\n", "text/csv", "1 predictions for 2 rows"),
        (b"{oops", "application/json", "invalid JSON"),
        (b'{"scores": [1, 2]}', "application/json", "no 'predictions' array"),
        (b'{"predictions": [{"label": 1}, {"score": 2}]}', "application/json", "prediction 0"),
        (b'{"predictions": [true, 1]}', "application/json", "prediction 0"),
        (b"1\nabc\n", "text/csv", "prediction 1 is not a number"),
        (b"1\nnan\n", "text/csv", "prediction 1 is not finite"),
        (b"\x00\x01", "application/x-recordio-protobuf", "content type"),
        (b"\xff\xfe", "text/csv", "undecodable"),
    ],
)
def test_decode_rejects_answers_that_do_not_fit(
    body: bytes, content_type: str, expected: str
) -> None:
    with pytest.raises(EndpointFailureError, match=expected):
        decode_predictions(body, content_type, 2)


def test_a_regular_request_never_takes_the_reference_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reference_path(*_: object) -> None:
        raise AssertionError("the reference path parsed a regular request")

    monkeypatch.setattr(prediction, "parse_instances", reference_path)
    rows = [record(), record(rooms=None, area=2112.0, zip=7), record(area=-0.5, city=None)]
    for contract in (xgboost_contract(), linear_contract()):
        batch = RecordEncoder(contract).encode_request(json.dumps({"instances": rows}), 10)
        assert batch.body.decode().split("\n") == [reference_line(contract, r) for r in rows]


# --- the cyclic collector around the typed pass ----------------------------------------


@pytest.fixture
def collector_on() -> Any:
    """The collector on for the test, and as it was afterwards."""
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def _collector_during_typed_pass(
    monkeypatch: pytest.MonkeyPatch, encoder: RecordEncoder
) -> list[bool]:
    seen: list[bool] = []
    read = encoder._typed_rows

    def reading(body: str | bytes) -> Any:
        seen.append(gc.isenabled())
        return read(body)

    monkeypatch.setattr(encoder, "_typed_rows", reading)
    return seen


@pytest.mark.parametrize(
    "rows",
    [
        [record()],  # typed pass
        [record(rooms=True)],  # refused by the typed pass: the reference path names it
        [record()] * 4,  # more rows than allowed
    ],
)
def test_collector_is_paused_for_the_typed_pass_and_back_on_after(
    monkeypatch: pytest.MonkeyPatch, collector_on: None, rows: list[dict[str, Any]]
) -> None:
    encoder = RecordEncoder(xgboost_contract())
    seen = _collector_during_typed_pass(monkeypatch, encoder)
    with contextlib.suppress(RequestError):
        encoder.encode_request(json.dumps({"instances": rows}), 3)
    assert seen == [False]
    assert gc.isenabled()


def test_collector_left_off_when_the_caller_had_it_off(
    monkeypatch: pytest.MonkeyPatch, collector_on: None
) -> None:
    gc.disable()
    encoder = RecordEncoder(xgboost_contract())
    _collector_during_typed_pass(monkeypatch, encoder)
    encoder.encode_request(json.dumps({"instances": [record()]}), 3)
    assert not gc.isenabled()
