"""The emulator's libsvm reader: XGBoost's native reader where it reads text as the token
parser would, the token parser (which names the bad line) everywhere else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagepipe_local.sagemaker.algorithms import data
from sagepipe_local.sagemaker.algorithms.data import (
    NATIVE_MIN_LINES,
    DataFormatError,
    LibsvmRows,
    _parse_libsvm_by_token,
    _parse_libsvm_natively,
    _records,
    parse_libsvm,
    read_libsvm_file_natively,
    widened,
)

# Values exact in float32: the native reader reads float32, the token parser float64.
PLAIN = "1 0:0.5 3:2\n-2.5 1:1 2:0\n4 0:-7\n"

NATIVE = {
    "plain": PLAIN,
    "no final newline": PLAIN.rstrip("\n"),
    "CRLF": PLAIN.replace("\n", "\r\n"),
    "blank lines": "\n" + PLAIN.replace("\n", "\n\n", 1) + "  \t\n\n",
    "indented": "  " + PLAIN.replace("\n", "\n  ").rstrip(" "),
    "label only": "3\n1 0:1\n",
    "whitespace-only line of U+001F": "1 0:1\n\x1f\n2 1:2\n",
    "form feed breaks": "1 0:1\x0c2 1:2\n",
    "unicode line separator": "1 0:1\u20282 1:2\n",
    "lone CR": "1 0:1\r2 1:2\n",
}
TOKEN_PARSER = {
    "comment": "1 0:1 # a comment\n2 1:2\n",
    "qid": "1 qid:3 0:1\n2 qid:3 1:2\n",
    "a line without a label": "1 0:1\n0:1 1:2\n",
    "a line without a label, indented": "1 0:1\n   0:1 1:2\n",
}


def _dense_with_missing(csr: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The CSR rows as a dense matrix, NaN where an index is absent."""
    dense = np.full(csr.shape, np.nan, dtype=np.float64)
    row_of_entry = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    dense[row_of_entry, csr.indices] = csr.data
    return dense


def _same(left: LibsvmRows, right: LibsvmRows) -> None:
    width = max(left.matrix.shape[1], right.matrix.shape[1])
    np.testing.assert_array_equal(left.labels, right.labels)
    np.testing.assert_array_equal(
        _dense_with_missing(widened(left.matrix, width)),
        _dense_with_missing(widened(right.matrix, width)),
    )


def _outcome(parse: Callable[[str], LibsvmRows], text: str) -> LibsvmRows | str:
    try:
        return parse(text)
    except DataFormatError as error:
        return str(error)


@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("text", [*NATIVE.values(), *TOKEN_PARSER.values()])
def test_both_readers_give_the_same_rows_or_the_same_error(text: str, labelled: bool) -> None:
    def native_where_it_reads(t: str) -> LibsvmRows:
        lines = _records(t)
        native = _parse_libsvm_natively(lines)
        return native or _parse_libsvm_by_token(lines, "f.libsvm", labelled=labelled)

    chosen = _outcome(native_where_it_reads, text)
    reference = _outcome(
        lambda t: _parse_libsvm_by_token(_records(t), "f.libsvm", labelled=labelled), text
    )
    if isinstance(reference, str) or isinstance(chosen, str):
        assert chosen == reference
    else:
        _same(chosen, reference)


@pytest.mark.parametrize("name", NATIVE)
def test_regular_text_takes_the_native_reader(name: str) -> None:
    assert _parse_libsvm_natively(_records(NATIVE[name])) is not None


@pytest.mark.parametrize("name", TOKEN_PARSER)
def test_text_the_native_reader_would_misread_takes_the_token_parser(name: str) -> None:
    assert _parse_libsvm_natively(_records(TOKEN_PARSER[name])) is None


def test_the_token_parser_names_the_line_without_a_label() -> None:
    with pytest.raises(DataFormatError, match="line 2 does not start with a label"):
        parse_libsvm(TOKEN_PARSER["a line without a label"], "f.libsvm", labelled=True)


def test_a_short_text_skips_the_native_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(lines: list[str]) -> LibsvmRows | None:
        raise AssertionError(f"native reader called for {len(lines)} lines")

    monkeypatch.setattr(data, "_parse_libsvm_natively", refuse)
    text = PLAIN * ((NATIVE_MIN_LINES - 1) // 3)
    _same(
        parse_libsvm(text, "f.libsvm", labelled=True),
        _parse_libsvm_by_token(_records(text), "f.libsvm", labelled=True),
    )


def test_a_long_text_takes_the_native_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    read_natively: list[LibsvmRows | None] = []

    def spy(lines: list[str]) -> LibsvmRows | None:
        read_natively.append(_parse_libsvm_natively(lines))
        return read_natively[-1]

    monkeypatch.setattr(data, "_parse_libsvm_natively", spy)
    text = PLAIN * (NATIVE_MIN_LINES // 3 + 1)
    chosen = parse_libsvm(text, "f.libsvm", labelled=True)
    assert len(read_natively) == 1 and read_natively[0] is not None
    _same(chosen, _parse_libsvm_by_token(_records(text), "f.libsvm", labelled=True))


def _channel_file(directory: Path, text: str) -> Path:
    path = directory / "train.libsvm"
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("text", [*NATIVE.values(), *TOKEN_PARSER.values()])
def test_a_channel_file_read_in_place_has_the_token_parsers_rows(tmp_path: Path, text: str) -> None:
    matrix = read_libsvm_file_natively(_channel_file(tmp_path, text), nthread=1)
    if matrix is not None:
        reference = _parse_libsvm_by_token(_records(text), "f.libsvm", labelled=True)
        read = LibsvmRows(labels=matrix.get_label().astype(np.float64), matrix=matrix.get_data())
        _same(read, reference)


@pytest.mark.parametrize("text", [PLAIN, PLAIN.rstrip("\n"), "3\n1 0:1\n", "1.5e2 0:-2E-1 4:+3\n"])
def test_plain_channel_files_are_read_in_place(tmp_path: Path, text: str) -> None:
    assert read_libsvm_file_natively(_channel_file(tmp_path, text), nthread=1) is not None


NOT_PLAIN = {
    **TOKEN_PARSER,
    "a first line without a label": "0:1 1:2\n1 0:1\n",
    "indented": NATIVE["indented"],
    "blank lines": NATIVE["blank lines"],
    "CRLF": NATIVE["CRLF"],
    "tabs": "1\t0:1\n",
    "nan": "1 0:nan\n",
    "non-ASCII": "1 0:1\u20282 1:2\n",
    "empty": "",
}


@pytest.mark.parametrize("name", NOT_PLAIN)
def test_other_channel_files_are_left_to_parse_libsvm(tmp_path: Path, name: str) -> None:
    assert read_libsvm_file_natively(_channel_file(tmp_path, NOT_PLAIN[name]), nthread=1) is None
