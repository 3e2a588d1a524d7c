"""Unusable input is rejected with the file, row, line, column and reason."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagepipe.errors import ConfigError, InputDataError
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreprocessSettings, preprocess_file

NAME = "s3://bucket/incoming/houses/data.csv"


def good_lines(rows: int = 30) -> list[str]:
    return ["y,x,city"] + [f"{row},{row % 4},{'ab'[row % 2]}" for row in range(rows)]


def csv_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def run(tmp_path: Path, data: str | bytes, *, name: str = "data.csv", **config: Any) -> None:
    source = tmp_path / name
    source.write_bytes(data.encode() if isinstance(data, str) else data)
    config.setdefault("target", "y")
    preprocess_file(
        source,
        source_name=NAME,
        model="houses",
        config=PipelineConfig(**config),
        settings=PreprocessSettings(max_categories=20, min_rows=20),
        out_dir=tmp_path / "out",
    )


def rejected(tmp_path: Path, data: str | bytes, **config: Any) -> str:
    with pytest.raises(InputDataError) as caught:
        run(tmp_path, data, **config)
    message = str(caught.value)
    assert NAME in message
    return message


def test_empty_file(tmp_path: Path) -> None:
    assert rejected(tmp_path, b"") == f"{NAME} is empty (0 bytes)"


def test_empty_gzip_file(tmp_path: Path) -> None:
    assert "empty" in rejected(tmp_path, gzip.compress(b""))


def test_header_only(tmp_path: Path) -> None:
    assert rejected(tmp_path, "y,x,city\n") == f"{NAME} has a header but no data rows"


def test_too_few_rows(tmp_path: Path) -> None:
    message = rejected(tmp_path, csv_text(good_lines(12)))
    assert "too few rows: 12 data rows with a target value" in message
    assert "at least 20" in message


def test_too_few_rows_after_dropping_rows_without_target(tmp_path: Path) -> None:
    lines = good_lines(22)
    for row in (1, 2, 3):
        lines[row] = "," + lines[row].split(",", 1)[1]
    message = rejected(tmp_path, csv_text(lines))
    assert "19 data rows with a target value (3 more have no target value)" in message


def test_more_than_half_of_the_targets_missing(tmp_path: Path) -> None:
    lines = good_lines(40)
    for row in range(1, 22):
        lines[row] = "," + lines[row].split(",", 1)[1]
    message = rejected(tmp_path, csv_text(lines))
    assert "target column 'y' is empty in 21 of 40 data rows (more than half)" in message


def test_target_column_absent_names_the_columns_present(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run(tmp_path, csv_text(good_lines()), target="price")
    assert str(caught.value) == (
        f"target: column 'price' is not in {NAME}; its columns are 'y', 'x', 'city'"
    )


def test_column_list_in_messages_is_truncated(tmp_path: Path) -> None:
    header = ",".join(["y", *(f"c{index}" for index in range(40))])
    with pytest.raises(ConfigError) as caught:
        run(tmp_path, header + "\n1" + ",1" * 40 + "\n", target="price")
    assert "'c18', ... (41 in all)" in str(caught.value)


@pytest.mark.parametrize("key", ["drop_columns", "categorical_columns"])
def test_config_naming_unknown_columns(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run(tmp_path, csv_text(good_lines()), **{key: ["x", "colour"]})
    assert str(caught.value) == (f"{key}: 'colour' not in {NAME}; its columns are 'y', 'x', 'city'")


def test_target_declared_categorical(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="categorical_columns"):
        run(tmp_path, csv_text(good_lines()), categorical_columns=["y"])


def test_non_numeric_target_names_first_row_line_and_value(tmp_path: Path) -> None:
    lines = good_lines()
    lines[4] = "cheap,1,a"
    lines[9] = "dear,1,a"
    lines.insert(2, "")  # a blank line: file lines and data rows part ways
    message = rejected(tmp_path, csv_text(lines))
    assert message == (
        f"{NAME}: target column 'y' must be numeric; data row 4 (line 6) has 'cheap' "
        "(1 more rows are not numbers either)"
    )


def test_na_text_in_target_is_a_missing_target(tmp_path: Path) -> None:
    lines = good_lines()
    lines[3] = "NA,1,a"
    run(tmp_path, csv_text(lines))


def test_infinite_target(tmp_path: Path) -> None:
    lines = good_lines()
    lines[5] = "inf,1,a"
    assert "data row 5 (line 6) has inf" in rejected(tmp_path, csv_text(lines))


def test_infinite_feature_names_the_column(tmp_path: Path) -> None:
    lines = good_lines()
    lines[7] = "7,-inf,a"
    message = rejected(tmp_path, csv_text(lines))
    assert message == (f"{NAME}: column 'x' must hold finite numbers; data row 7 (line 8) has -inf")


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    lines = good_lines()
    lines[12] = "12,0,a,extra"
    message = rejected(tmp_path, csv_text(lines))
    assert message == (
        f"{NAME} cannot be parsed as CSV: data row 12 (line 13) has 4 fields, "
        "the header (line 1) has 3"
    )


def test_first_row_with_too_many_fields(tmp_path: Path) -> None:
    # pandas would quietly take the first column for an index here.
    lines = good_lines()
    lines[1] = "0,0,a,extra"
    assert "data row 1 (line 2) has 4 fields" in rejected(tmp_path, csv_text(lines))


def test_unterminated_quote(tmp_path: Path) -> None:
    lines = good_lines()
    lines[25] = '25,1,"a'
    message = rejected(tmp_path, csv_text(lines))
    assert message == (
        f"{NAME} cannot be parsed as CSV: data row 25 (line 26): unexpected end of data"
    )


def test_byte_order_mark_and_windows_line_ends_are_fine(tmp_path: Path) -> None:
    run(tmp_path, "\ufeff" + "\r\n".join(good_lines()) + "\r\n")


def test_invalid_utf8_names_line_and_offset(tmp_path: Path) -> None:
    data = b"y,x,city\n1,2,a\n3,4,\xff\n"
    message = rejected(tmp_path, data)
    assert message == f"{NAME} is not UTF-8 text: invalid byte 0xff at byte offset 19 (line 3)"


def test_invalid_utf8_far_into_the_file(tmp_path: Path) -> None:
    lines = good_lines(5000)
    data = csv_text(lines).encode() + b"5000,1,caf\xe9\n"
    assert "(line 5002)" in rejected(tmp_path, data)


def test_binary_garbage(tmp_path: Path) -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert "not UTF-8 text" in rejected(tmp_path, garbage)


def test_nul_bytes_in_the_header(tmp_path: Path) -> None:
    assert "NUL bytes" in rejected(tmp_path, b"y,x\x00\x00,city\n1,2,a\n")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(csv_text(good_lines(3000)).encode())
    assert "not a valid gzip file" in rejected(tmp_path, data[: len(data) // 2])


def test_gzip_magic_with_garbage_after_it(tmp_path: Path) -> None:
    assert "not a valid gzip file" in rejected(tmp_path, b"\x1f\x8b" + b"garbage" * 50)


def test_duplicate_column_names(tmp_path: Path) -> None:
    lines = ["y,x,city,x"] + [f"{row},1,a,2" for row in range(30)]
    message = rejected(tmp_path, csv_text(lines))
    assert message == f"{NAME}: duplicate column names in the header: 'x' (columns 2, 4)"


def test_every_feature_dropped(tmp_path: Path) -> None:
    lines = ["y,id,same,extra"] + [f"{row},id{row},1,{row}" for row in range(30)]
    message = rejected(tmp_path, csv_text(lines), drop_columns=["extra"])
    assert message == (
        f"{NAME}: no feature column is left besides the target 'y' "
        "(id: identifier-like: 30 distinct values in 30 rows; "
        "same: constant: every training value is 1; extra: listed in drop_columns)"
    )


def test_only_a_target_column(tmp_path: Path) -> None:
    lines = ["y"] + [str(row) for row in range(30)]
    assert "the file has no other column" in rejected(tmp_path, csv_text(lines))


@pytest.mark.parametrize("key", ["max_categories", "min_rows"])
def test_settings_must_be_positive(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        PreprocessSettings(**{key: 0})
