"""Reading the uploaded CSV (plain or gzip) into a DataFrame.

Values are read as text with only an empty field meaning "missing", so categorical
values stay exactly as they appear in the file; numeric columns still parse as numbers.
Reading errors are reported with the data row and the file line; finding the line scans
the file again, which happens only on the way to raising.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import warnings
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import pandas as pd

from sagepipe.errors import InputDataError

GZIP_MAGIC = b"\x1f\x8b"
# Texts that mean "no value" in a numeric column (pandas' defaults). In a text column
# they are ordinary values: "NA" may well be a category.
MISSING_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
_SCAN_BLOCK = 1 << 20
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


@contextmanager
def open_data(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when it starts with the gzip magic number."""
    with path.open("rb") as raw:
        compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield cast(BinaryIO, unzipped)


@contextmanager
def _csv_input(path: Path) -> Iterator[BinaryIO | str]:
    """What pandas reads: the path of a plain file (faster than a Python stream)."""
    with open_data(path) as stream:
        if isinstance(stream, gzip.GzipFile):
            yield stream
            return
    yield str(path)


def _csv_records(stream: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each non-blank record, counted as pandas does."""
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    line_before = 0
    for record in reader:
        if record:
            yield line_before + 1, record
        line_before = reader.line_num


def read_header(path: Path, source_name: str) -> list[str]:
    """The column names of the first line; rejects an empty or binary file."""
    if path.stat().st_size == 0:
        raise InputDataError(f"{source_name} is empty (0 bytes)")
    with _reading(path, source_name), open_data(path) as stream:
        for _, record in _csv_records(stream):
            if any("\x00" in name for name in record):
                raise InputDataError(f"{source_name} is not a CSV text file (NUL bytes)")
            return record
    raise InputDataError(f"{source_name} is empty: no header line")


def read_frame(path: Path, source_name: str, text_columns: Collection[str]) -> pd.DataFrame:
    """The whole file; `text_columns` are read as text even when they look numeric.

    Columns that come out as bool or mixed objects are read again as text, so that
    "TRUE" stays "TRUE" and a column that switches type halfway keeps its file text.
    """
    frame = _read_csv(path, source_name, text_columns=text_columns, usecols=None)
    reread = [
        str(name)
        for name, dtype in frame.dtypes.items()
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if reread:
        as_text = _read_csv(path, source_name, text_columns=reread, usecols=reread)
        for name in reread:
            frame[name] = as_text[name]
    return frame


def _read_csv(
    path: Path,
    source_name: str,
    *,
    text_columns: Collection[str],
    usecols: list[str] | None,
) -> pd.DataFrame:
    with (
        _reading(path, source_name),
        _csv_input(path) as csv_input,
        warnings.catch_warnings(),
    ):
        # Data loss when a line has more fields than the header is a warning in
        # pandas; here it is an error (located by _reading).
        warnings.simplefilter("error", pd.errors.ParserWarning)
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        return pd.read_csv(
            csv_input,
            sep=",",
            header=0,
            index_col=False,
            usecols=usecols,
            dtype=dict.fromkeys(text_columns, "str") if text_columns else None,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            encoding="utf-8-sig",
            compression=None,
            engine="c",
        )


@contextmanager
def _reading(path: Path, source_name: str) -> Iterator[None]:
    """Turn low-level reading failures into InputDataErrors that point into the file."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise InputDataError(_describe_invalid_text(path, source_name)) from error
    except _GZIP_ERRORS as error:
        raise InputDataError(f"{source_name} is not a valid gzip file: {error}") from error
    except (pd.errors.ParserError, pd.errors.ParserWarning, csv.Error) as error:
        raise InputDataError(_describe_unparsable(path, source_name, error)) from error
    except pd.errors.EmptyDataError as error:
        raise InputDataError(f"{source_name} has no columns") from error


def _describe_invalid_text(path: Path, source_name: str) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    lines_before = 0
    try:
        with open_data(path) as stream:
            while block := stream.read(_SCAN_BLOCK):
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:
                    position = max(error.start - pending, 0)
                    line = lines_before + block.count(b"\n", 0, position) + 1
                    return (
                        f"{source_name} is not UTF-8 text: invalid byte "
                        f"0x{block[position]:02x} at byte offset {offset + position} "
                        f"(line {line})"
                    )
                offset += len(block)
                lines_before += block.count(b"\n")
    except _GZIP_ERRORS as error:
        return f"{source_name} is not a valid gzip file: {error}"
    return f"{source_name} is not UTF-8 text"


def _describe_unparsable(path: Path, source_name: str, error: Exception) -> str:
    prefix = f"{source_name} cannot be parsed as CSV"
    try:
        with open_data(path) as stream:
            found = _first_bad_record(stream)
    except UnicodeDecodeError:
        return _describe_invalid_text(path, source_name)
    except _GZIP_ERRORS as gzip_error:
        return f"{source_name} is not a valid gzip file: {gzip_error}"
    # Nothing the csv module objects to: pandas' own description is all there is.
    return f"{prefix}: {found or error}"


def _first_bad_record(stream: BinaryIO) -> str | None:
    """Where the first record with more fields than the header, or that the csv module
    cannot read, is."""
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), strict=True)
    header_fields = 0
    header_line = 0
    data_row = 0
    start_line = 1
    try:
        for record in reader:
            if record and not header_line:
                header_fields, header_line = len(record), start_line
            elif record:
                data_row += 1
                if len(record) > header_fields:
                    return (
                        f"data row {data_row} (line {start_line}) has {len(record)} fields, "
                        f"the header (line {header_line}) has {header_fields}"
                    )
            start_line = reader.line_num + 1
    except csv.Error as scan_error:
        record_name = f"data row {data_row + 1}" if header_line else "the header"
        return f"{record_name} (line {start_line}): {scan_error}"
    return None


def line_of_data_row(path: Path, data_row: int) -> int | None:
    """The file line on which 1-based data row `data_row` starts (None if not found)."""
    try:
        with open_data(path) as stream:
            for index, (line, _) in enumerate(_csv_records(stream)):
                if index == data_row:
                    return line
    except (csv.Error, UnicodeDecodeError, *_GZIP_ERRORS):
        return None
    return None


def where(path: Path, data_row: int) -> str:
    """ "data row N (line L)" for error messages."""
    line = line_of_data_row(path, data_row)
    return f"data row {data_row}" + (f" (line {line})" if line is not None else "")
