"""Text/csv and text/libsvm parsing, as the built-in containers read them.

CSV: no header; an empty field (or `nan`) is a missing value. libsvm: `label idx:val ...`;
an absent index is a missing value. CSV becomes a dense float matrix with NaN for missing;
libsvm a sparse (CSR) matrix, whose absent entries XGBoost treats as missing, exactly as
it treats NaN.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from sagepipe_local.sagemaker.algorithms.base import FloatArray

CSV = "text/csv"
LIBSVM = "text/libsvm"
_ALIASES = {"csv": CSV, "libsvm": LIBSVM, "text/x-libsvm": LIBSVM}


class DataFormatError(ValueError):
    """The text is not valid for its content type; the message says where and why."""


@dataclass(frozen=True)
class MediaType:
    mime: str
    parameters: dict[str, str]


def parse_media_type(raw: str | None, default: str) -> MediaType:
    """`text/csv; label_size=1` -> MediaType("text/csv", {"label_size": "1"})."""
    if raw is None or not raw.strip():
        return MediaType(default, {})
    mime, *parameters = (part.strip() for part in raw.split(";"))
    mime = mime.lower()
    values: dict[str, str] = {}
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key:
            values[key.strip().lower()] = value.strip()
    return MediaType(_ALIASES.get(mime, mime), values)


def read_text(files: Sequence[Path], gzipped: bool) -> list[tuple[str, str]]:
    """(file name, text) for each file."""
    texts = []
    for path in files:
        raw = path.read_bytes()
        if gzipped:
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as error:
                raise DataFormatError(f"{path.name}: not a gzip file ({error})") from error
        try:
            texts.append((path.name, raw.decode("utf-8")))
        except UnicodeDecodeError as error:
            raise DataFormatError(f"{path.name}: not UTF-8 text ({error})") from error
    return texts


def _records(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def parse_csv(text: str, source: str) -> FloatArray:
    """Rows x columns of floats; NaN where a field is empty."""
    lines = _records(text)
    if not lines:
        return np.empty((0, 0), dtype=np.float64)
    try:
        matrix: FloatArray = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        # Empty fields or ragged rows: the slow path says which row and column.
        return _parse_csv_by_field(lines, source)
    return matrix


def _parse_csv_by_field(lines: list[str], source: str) -> FloatArray:
    width = len(lines[0].split(","))
    matrix = np.empty((len(lines), width), dtype=np.float64)
    for row, line in enumerate(lines):
        fields = line.split(",")
        if len(fields) != width:
            raise DataFormatError(
                f"{source}: line {row + 1} has {len(fields)} columns, the first line has {width}"
            )
        for column, raw in enumerate(fields):
            value = raw.strip()
            if not value:
                matrix[row, column] = np.nan
                continue
            try:
                matrix[row, column] = float(value)
            except ValueError as error:
                raise DataFormatError(
                    f"{source}: line {row + 1}, column {column + 1}: {value[:40]!r} is not a number"
                ) from error
    return matrix


@dataclass(frozen=True)
class LibsvmRows:
    labels: FloatArray
    matrix: Any  # scipy.sparse.csr_matrix; explicit zeros are values, absent entries missing


def stack_sparse_rows(blocks: Sequence[Any]) -> Any:
    """Stack CSR row blocks whose widths may differ (libsvm files) into one CSR matrix."""
    non_empty = [block for block in blocks if block.shape[0] > 0]
    if not non_empty:
        return scipy.sparse.csr_matrix((0, 0), dtype=np.float64)
    width = max(block.shape[1] for block in non_empty)
    return scipy.sparse.vstack(
        [widened(block, width) for block in non_empty], format="csr", dtype=np.float64
    )


def widened(csr: Any, width: int) -> Any:
    """The same CSR rows, declared `width` columns wide (the extra ones all missing)."""
    if csr.shape[1] >= width:
        return csr
    return scipy.sparse.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(csr.shape[0], width))


# From this many lines on, XGBoost's native reader is the faster one. Below, its fixed cost
# (a temporary file, the parser's start-up: about 3 ms) outweighs the token parser's
# per-line cost (about 13 us), as for a real-time request of a few records.
NATIVE_MIN_LINES = 256


def parse_libsvm(text: str, source: str, *, labelled: bool) -> LibsvmRows:
    """Parse libsvm lines. Unlabelled input may still start with a placeholder label token."""
    lines = _records(text)
    if len(lines) >= NATIVE_MIN_LINES:
        native = _parse_libsvm_natively(lines)
        if native is not None:
            return native
    return _parse_libsvm_by_token(lines, source, labelled=labelled)


# A line's first token (what str.split() gives first) holds a ":": the line has no label.
_A_FIRST_TOKEN_IS_A_PAIR = re.compile(r"^[^\S\n]*[^\s:]*:", re.MULTILINE)


def _parse_libsvm_natively(lines: list[str]) -> LibsvmRows | None:
    """XGBoost's own libsvm reader, as the real container uses: fast, but its errors
    name no line. None (use the token parser) for anything it would read differently:
    a line whose first token is not a plain label, comments, or text it rejects."""
    if not lines:
        return None
    text = "\n".join(lines) + "\n"
    if "#" in text or "qid" in text or _A_FIRST_TOKEN_IS_A_PAIR.search(text):
        return None
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "data.libsvm"
        path.write_text(text)
        matrix = _read_natively(path, rows=len(lines), nthread=2)
        if matrix is None:
            return None
        csr = matrix.get_data()
        labels = matrix.get_label().astype(np.float64)
    return LibsvmRows(labels=labels, matrix=csr.astype(np.float64))


# The bytes of plain libsvm text: numbers (exponents included), index:value pairs, spaces
# and "\n". Anything else (comments, qid, tabs, CR or other line breaks, nan, non-ASCII)
# is left to parse_libsvm, which looks at each line.
_PLAIN_LIBSVM_BYTES = b"0123456789.-+eE: \n"
_FIRST_TOKEN_IS_A_PAIR = re.compile(rb"[^ \n]*:")
# After a line break: a blank line, an indented one, or one whose first token is a pair
# (no label). One pass over the text; the checks one by one took 3x as long.
_A_LATER_LINE_IS_NOT_PLAIN = re.compile(rb"\n(?:[\n ]|[^ \n]*:)")


def read_libsvm_file_natively(path: Path, nthread: int) -> Any | None:
    """A file of plain labelled libsvm text as XGBoost's reader reads it in place, which
    skips parse_libsvm's copies of a large channel. Every row is the one parse_libsvm
    gives. None for any other text: parse_libsvm then reads it, and names a bad line."""
    raw = path.read_bytes()
    if not _is_plain_labelled_libsvm(raw):
        return None
    return _read_natively(path, rows=_line_count(raw), nthread=nthread)


def read_libsvm_bytes_natively(raw: bytes, nthread: int) -> Any | None:
    """The same for a payload of at least NATIVE_MIN_LINES lines (a transform's
    mini-batch): an xgboost.DMatrix without parse_libsvm's text and CSR copies."""
    if raw.count(b"\n") < NATIVE_MIN_LINES or not _is_plain_labelled_libsvm(raw):
        return None
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "payload.libsvm"
        path.write_bytes(raw)
        return _read_natively(path, rows=_line_count(raw), nthread=nthread)


def _is_plain_labelled_libsvm(raw: bytes) -> bool:
    return not (
        not raw
        or raw.translate(None, _PLAIN_LIBSVM_BYTES)
        or raw.startswith((b"\n", b" "))
        or _FIRST_TOKEN_IS_A_PAIR.match(raw)
        or _A_LATER_LINE_IS_NOT_PLAIN.search(raw)
    )


def _line_count(raw: bytes) -> int:
    return raw.count(b"\n") + (not raw.endswith(b"\n"))


def _read_natively(path: Path, *, rows: int, nthread: int) -> Any | None:
    """The xgboost.DMatrix of a libsvm file; None if XGBoost rejects it or does not read
    one row per line."""
    import xgboost as xgb

    try:
        with warnings.catch_warnings(), xgb.config_context(verbosity=0):
            # XGBoost 3.1+ calls text input deprecated; the 1.7 container reads it.
            warnings.simplefilter("ignore", UserWarning)
            matrix = xgb.DMatrix(f"{path}?format=libsvm", nthread=nthread)
    except xgb.core.XGBoostError:
        return None
    return matrix if matrix.num_row() == rows else None


def _parse_libsvm_by_token(lines: list[str], source: str, *, labelled: bool) -> LibsvmRows:
    labels = np.zeros(len(lines), dtype=np.float64)
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, line in enumerate(lines):
        tokens = line.split()
        if tokens and ":" not in tokens[0]:
            labels[row] = _number(tokens[0], source, row, "label")
            tokens = tokens[1:]
        elif labelled:
            raise DataFormatError(f"{source}: line {row + 1} does not start with a label")
        for token in tokens:
            if token.startswith("#"):
                break
            index_text, separator, value_text = token.partition(":")
            if not separator:
                raise DataFormatError(
                    f"{source}: line {row + 1}: {token[:40]!r} is not an index:value pair"
                )
            try:
                index = int(index_text)
            except ValueError as error:
                raise DataFormatError(
                    f"{source}: line {row + 1}: feature index {index_text[:20]!r} is not an integer"
                ) from error
            if index < 0:
                raise DataFormatError(f"{source}: line {row + 1}: negative feature index {index}")
            rows.append(row)
            columns.append(index)
            values.append(_number(value_text, source, row, f"feature {index}"))
    width = max(columns) + 1 if columns else 0
    # Through a dense matrix, so that a repeated index keeps its last value, as before.
    features = np.full((len(lines), width), np.nan, dtype=np.float64)
    if rows:
        features[np.asarray(rows), np.asarray(columns)] = np.asarray(values, dtype=np.float64)
    present_rows, present_columns = np.nonzero(~np.isnan(features))
    matrix = scipy.sparse.csr_matrix(
        (features[present_rows, present_columns], (present_rows, present_columns)),
        shape=features.shape,
    )
    return LibsvmRows(labels=labels, matrix=matrix)


def _number(text: str, source: str, row: int, what: str) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise DataFormatError(
            f"{source}: line {row + 1}: {what} {text[:40]!r} is not a number"
        ) from error


def pad_columns(features: FloatArray, width: int) -> FloatArray:
    """Widen with missing values (libsvm rows need not mention the last features)."""
    if features.shape[1] >= width:
        return features
    padding = np.full((features.shape[0], width - features.shape[1]), np.nan)
    return np.hstack([features, padding])


def stack_rows(blocks: Sequence[FloatArray]) -> FloatArray:
    """Stack row blocks whose widths may differ (libsvm files), padding with NaN."""
    non_empty = [block for block in blocks if block.shape[0] > 0]
    if not non_empty:
        return np.empty((0, 0), dtype=np.float64)
    width = max(block.shape[1] for block in non_empty)
    return np.vstack([pad_columns(block, width) for block in non_empty])
