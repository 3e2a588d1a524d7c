"""Channel writers: libsvm and dense CSV lines, built without a per-row Python loop.

A chunk of lines is assembled as a uint8 matrix, one row per line, in which NUL bytes
are padding: every token is written into a fixed-width block of columns, shorter tokens
leave NULs, and the finished chunk is the matrix with its NUL bytes removed. Numbers,
feature indices, separators and newlines never contain NUL, so removing them is exact.

Number text (the prediction encoder must produce the same): a whole number below 2**53
in magnitude is written as that integer ("3", "-12", "1500000000"); any other value as
"%.9g" ("0.1", "2.5e-05", "1e+16", "0.3" for 0.1 + 0.2). Nine significant digits
round-trip every float32, which is what both built-in algorithms read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ByteMatrix = NDArray[np.uint8]
RowIndex = NDArray[np.intp]
ChannelStyle = Literal["libsvm", "csv"]

CHUNK_ROWS = 1 << 16
# Numbers with more distinct values than this share of rows are not worth a table.
MAX_CODED_SHARE = 0.25
# Whole numbers spanning fewer values than this are coded by their offset.
MAX_INTEGER_SPAN = 1 << 16
NUMBER_FORMAT = "%.9g"
_EXACT_INTEGER_LIMIT = 2.0**53
# "%.9g" is positional for magnitudes in [1e-4, 1e9); a value there that equals a decimal
# of at most 9 significant digits is written as exactly that decimal. Such a decimal
# below 1e8 with a fraction has at most 12 decimals (0.000123456789).
_POSITIONAL_MIN = 1e-4
_SHORT_DECIMAL_MAX = 1e8
_SHORT_DIGITS_LIMIT = 1e9
MAX_FIXED_DECIMALS = 12
# Values tried for a short decimal before giving up on a chunk of long ones.
_PROBE_SIZE = 256
_NUL = 0
_NEWLINE = ord("\n")
_MINUS = ord("-")
_DOT = ord(".")
_ZERO = ord("0")


@dataclass(frozen=True)
class CodedNumbers:
    """Numbers that repeat: each level is formatted once and lines look it up."""

    codes: NDArray[np.signedinteger[Any]]  # by frame row: index into levels, -1 missing
    levels: NDArray[np.float64]  # distinct values (possibly also some that never occur)


@dataclass(frozen=True)
class PlainNumbers:
    """Numbers with many distinct values, formatted chunk by chunk."""

    values: NDArray[np.float64]  # by frame row, NaN = missing


Numbers = CodedNumbers | PlainNumbers


def encode_numbers(values: NDArray[np.float64]) -> Numbers:
    """Code `values` when they repeat enough for a lookup table to pay off."""
    if values.size == 0 or np.isnan(values).all():
        return CodedNumbers(np.full(values.size, -1, dtype=np.int8), np.empty(0))
    lowest = float(np.fmin.reduce(values))
    highest = float(np.fmax.reduce(values))
    if (
        highest - lowest < MAX_INTEGER_SPAN
        and lowest > -_EXACT_INTEGER_LIMIT
        and highest < _EXACT_INTEGER_LIMIT
    ):
        offsets = values - lowest
        # Small whole numbers (counts, minutes, codes...): the offset is the code.
        if not np.any(offsets - np.floor(offsets) > 0):
            span = int(highest - lowest) + 1
            offsets[np.isnan(offsets)] = -1.0
            levels = np.arange(span, dtype=np.float64) + lowest
            return CodedNumbers(compact_codes(offsets, span), levels)
    codes, distinct = pd.factorize(values)
    if distinct.size > values.size * MAX_CODED_SHARE:
        return PlainNumbers(values)
    return CodedNumbers(compact_codes(codes, distinct.size), distinct.astype(np.float64))


def compact_codes(
    codes: NDArray[np.signedinteger[Any]] | NDArray[np.float64], size: int
) -> NDArray[np.signedinteger[Any]]:
    """Codes (-1 = missing) in the smallest integer type that holds them."""
    for dtype in (np.int8, np.int16, np.int32):
        if size < np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)


@dataclass(frozen=True)
class NumericChannelColumn:
    """A numeric input column: one feature."""

    numbers: Numbers
    feature_index: int
    fill: float  # written for a missing value in the dense CSV channel


@dataclass(frozen=True)
class OneHotChannelColumn:
    """A categorical input column: `width` one-hot features starting at feature_index."""

    positions: NDArray[np.signedinteger[Any]]  # by frame row: 0..width-1, -1 missing
    feature_index: int
    width: int


ChannelColumn = NumericChannelColumn | OneHotChannelColumn


def format_numbers(values: NDArray[np.float64]) -> ByteMatrix:
    """Finite values -> (n, w) matrix of their text, NUL-padded (see the module doc).

    Whole numbers and short decimals are formatted with integer arithmetic; whatever
    else remains goes through one C-level "%.9g" formatting of all of them.
    """
    count = values.shape[0]
    magnitude = np.abs(values)
    negative = values < 0
    integral = (magnitude == np.floor(magnitude)) & (magnitude < _EXACT_INTEGER_LIMIT)
    decimals = np.where(integral, 0, -1).astype(np.int64)
    scaled = np.where(integral, magnitude, 0.0)

    candidates = np.flatnonzero(
        ~integral & (magnitude >= _POSITIONAL_MIN) & (magnitude < _SHORT_DECIMAL_MAX)
    )
    probe = candidates[:_PROBE_SIZE]
    if candidates.size > probe.size and not _find_short_decimals(magnitude, probe).any():
        candidates = candidates[:0]  # long decimals throughout: skip the search
    found = _find_short_decimals(magnitude, candidates)
    decimals[candidates] = found
    short = candidates[found > 0]
    scaled[short] = np.rint(magnitude[short] * np.power(10.0, found[found > 0]))

    fixed = _format_fixed_point(scaled.astype(np.int64), decimals, negative)
    fallback = np.flatnonzero(decimals < 0)
    if fallback.size == 0:
        return fixed
    printed = _printf_numbers(values[fallback])
    out = np.zeros((count, max(fixed.shape[1], printed.shape[1])), dtype=np.uint8)
    out[:, : fixed.shape[1]] = fixed
    out[fallback] = _NUL
    out[fallback, : printed.shape[1]] = printed
    return out


def _find_short_decimals(magnitude: NDArray[np.float64], candidates: RowIndex) -> NDArray[np.int64]:
    """For each candidate: the fewest decimals d of a decimal of at most 9 significant
    digits that is exactly this float64, or -1 when there is none."""
    found = np.full(candidates.size, -1, dtype=np.int64)
    pending = np.arange(candidates.size)
    for digits in range(1, MAX_FIXED_DECIMALS + 1):
        if pending.size == 0:
            break
        power = 10.0**digits
        target = magnitude[candidates[pending]]
        scaled = np.rint(target * power)
        # scaled and 10**digits are exact, so the division rounds correctly: equality
        # means the decimal scaled / 10**digits reads back as this very float64.
        exact = (scaled / power == target) & (scaled < _SHORT_DIGITS_LIMIT)
        found[pending[exact]] = digits
        pending = pending[~exact]
    return found


def _printf_numbers(values: NDArray[np.float64]) -> ByteMatrix:
    """NUMBER_FORMAT of every value, as one C-level % over all of them."""
    text = ((NUMBER_FORMAT + "\n") * values.size % tuple(values.tolist())).encode("ascii")
    characters = np.frombuffer(text, dtype=np.uint8)
    line_ends = np.flatnonzero(characters == _NEWLINE)
    lengths = np.diff(line_ends, prepend=-1) - 1
    out = np.zeros((values.size, int(lengths.max())), dtype=np.uint8)
    out[np.arange(out.shape[1]) < lengths[:, None]] = characters[characters != _NEWLINE]
    return out


def _format_fixed_point(
    scaled: NDArray[np.int64], decimals: NDArray[np.int64], negative: NDArray[np.bool_]
) -> ByteMatrix:
    """`scaled / 10**decimals` as text: [sign][integer digits][.fraction digits]."""
    count = scaled.shape[0]
    max_decimals = max(int(decimals.max(initial=0)), 0)
    safe_decimals = np.maximum(decimals, 0)
    divisor = np.power(np.int64(10), safe_decimals)
    integer_part = scaled // divisor
    integer_digits = _digit_count(int(integer_part.max(initial=0)))

    sign_width = 1 if negative.any() else 0
    width = sign_width + integer_digits + (1 + max_decimals if max_decimals else 0)
    out = np.zeros((count, width), dtype=np.uint8)
    if sign_width:
        out[:, 0] = np.where(negative, _MINUS, _NUL)
    out[:, sign_width : sign_width + integer_digits] = _integer_digits(integer_part, integer_digits)
    if max_decimals:
        has_fraction = decimals > 0
        dot_column = sign_width + integer_digits
        out[:, dot_column] = np.where(has_fraction, _DOT, _NUL)
        # Left-align every fraction to max_decimals digits, then blank what lies past
        # each value's own number of decimals.
        fraction = (scaled - integer_part * divisor) * np.power(
            np.int64(10), max_decimals - safe_decimals
        )
        fraction_digits = _all_digits(fraction, max_decimals)
        beyond = np.arange(1, max_decimals + 1) > safe_decimals[:, None]
        fraction_digits[beyond] = _NUL
        out[:, dot_column + 1 :] = fraction_digits
    return out


def _digit_count(largest: int) -> int:
    return max(len(str(largest)), 1)


def _integer_digits(numbers: NDArray[np.int64], width: int) -> ByteMatrix:
    """Right-aligned decimal digits, leading positions NUL (0 itself is "0")."""
    out = np.zeros((numbers.shape[0], width), dtype=np.uint8)
    remaining = numbers.copy()
    for column in range(width - 1, -1, -1):
        digit = (remaining % 10).astype(np.uint8) + _ZERO
        if column == width - 1:
            out[:, column] = digit
        else:
            out[:, column] = np.where(remaining > 0, digit, _NUL)
        remaining //= 10
    return out


def _all_digits(numbers: NDArray[np.int64], width: int) -> ByteMatrix:
    """Exactly `width` decimal digits, zero-padded on the left."""
    out = np.empty((numbers.shape[0], width), dtype=np.uint8)
    remaining = numbers.copy()
    for column in range(width - 1, -1, -1):
        out[:, column] = (remaining % 10).astype(np.uint8) + _ZERO
        remaining //= 10
    return out


def _text_row(text: str) -> ByteMatrix:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(1, -1)


class _BlockSource(Protocol):
    def block(self, rows: RowIndex) -> ByteMatrix:
        """The bytes of this source for `rows`, one matrix row per line."""
        ...


@dataclass(frozen=True)
class _ConstantBlock:
    text: ByteMatrix  # (1, w): broadcast to every line

    def block(self, rows: RowIndex) -> ByteMatrix:
        return self.text


@dataclass(frozen=True)
class _TableBlock:
    codes: NDArray[np.signedinteger[Any]]  # by frame row; -1 picks the table's last row
    table: ByteMatrix

    def block(self, rows: RowIndex) -> ByteMatrix:
        return np.take(self.table, self.codes[rows], axis=0)


@dataclass(frozen=True)
class _FormattedBlock:
    values: NDArray[np.float64]
    prefix: ByteMatrix
    fill: float | None  # None: a missing value writes nothing, prefix included

    def block(self, rows: RowIndex) -> ByteMatrix:
        values = self.values[rows]
        missing = np.isnan(values)
        text = format_numbers(np.where(missing, 0.0 if self.fill is None else self.fill, values))
        width = self.prefix.shape[1]
        block = np.empty((rows.shape[0], width + text.shape[1]), dtype=np.uint8)
        block[:, :width] = self.prefix
        block[:, width:] = text
        if self.fill is None:
            block[missing] = _NUL
        return block


@dataclass(frozen=True)
class _OneRowBlock:
    """`text` on the line of one frame row only (NUL, i.e. nothing, on the others)."""

    frame_row: int
    text: ByteMatrix  # (1, w)

    def block(self, rows: RowIndex) -> ByteMatrix:
        block = np.zeros((rows.shape[0], self.text.shape[1]), dtype=np.uint8)
        block[rows == self.frame_row] = self.text
        return block


def _width_marker(rows: RowIndex, columns: Sequence[ChannelColumn]) -> _BlockSource | None:
    """An explicit `<last index>:0` on the first line when no line has the last feature.

    XGBoost sizes a model trained on libsvm by the highest index it reads, then refuses
    inference rows with a higher one. The last feature can be absent from every training
    row: a final one-hot "__other__" nobody fell into. One explicit zero keeps the model
    as wide as the contract; a single row cannot produce a split (min_child_weight).
    """
    last = columns[-1] if columns and rows.shape[0] else None
    if not isinstance(last, OneHotChannelColumn):
        return None  # a kept numeric column has values in the training rows
    if np.any(last.positions[rows] == last.width - 1):
        return None
    index = last.feature_index + last.width - 1
    return _OneRowBlock(int(rows[0]), _text_row(f" {index}:0"))


def _numbers_source(numbers: Numbers, prefix: str, fill: float | None) -> _BlockSource:
    """Prefix + number per line; a missing value writes `fill`, or nothing when None."""
    if isinstance(numbers, PlainNumbers):
        return _FormattedBlock(numbers.values, _text_row(prefix), fill)
    text = format_numbers(numbers.levels)
    table = np.zeros((numbers.levels.size + 1, len(prefix) + text.shape[1]), np.uint8)
    table[:-1, : len(prefix)] = _text_row(prefix)
    table[:-1, len(prefix) :] = text
    if fill is not None:
        missing_text = _text_row(prefix)
        fill_text = format_numbers(np.array([fill]))
        missing_text = np.concatenate([missing_text, fill_text], axis=1)
        if missing_text.shape[1] > table.shape[1]:
            table = np.pad(table, ((0, 0), (0, missing_text.shape[1] - table.shape[1])))
        table[-1, : missing_text.shape[1]] = missing_text
    return _TableBlock(numbers.codes, table)


def _one_hot_table(column: OneHotChannelColumn, style: ChannelStyle) -> ByteMatrix:
    """Row p: the text of category position p; the extra last row: a missing value."""
    if style == "libsvm":
        first = column.feature_index
        tokens = [f" {index}:1".encode("ascii") for index in range(first, first + column.width)]
        table = np.zeros((column.width + 1, max(len(token) for token in tokens)), np.uint8)
        for position, token in enumerate(tokens):
            table[position, : len(token)] = np.frombuffer(token, dtype=np.uint8)
        return table
    # Dense: ",0" per feature and ",1" for the hot one; a missing value is all ",0".
    table = np.zeros((column.width + 1, 2 * column.width), dtype=np.uint8)
    table[:, 0::2] = ord(",")
    table[:, 1::2] = _ZERO
    hot = np.arange(column.width)
    table[hot, 2 * hot + 1] = ord("1")
    return table


def _column_source(column: ChannelColumn, style: ChannelStyle) -> _BlockSource:
    if isinstance(column, OneHotChannelColumn):
        return _TableBlock(column.positions, _one_hot_table(column, style))
    if style == "libsvm":
        return _numbers_source(column.numbers, f" {column.feature_index}:", None)
    return _numbers_source(column.numbers, ",", column.fill)


def _write_lines(
    path: Path, rows: RowIndex, sources: Sequence[_BlockSource], *, drop_first_byte: bool
) -> int:
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for start in range(0, rows.shape[0], CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            blocks = [source.block(chunk) for source in sources]
            lines = np.empty((chunk.shape[0], sum(b.shape[1] for b in blocks)), np.uint8)
            column = 0
            for block in blocks:
                lines[:, column : column + block.shape[1]] = block
                column += block.shape[1]
            if drop_first_byte:
                lines[:, 0] = _NUL
            text = lines[lines != _NUL]
            handle.write(memoryview(text))
            written += text.shape[0]
    return written


def write_channel(
    path: Path,
    *,
    rows: RowIndex,
    columns: Sequence[ChannelColumn],
    labels: Numbers | None,
    style: ChannelStyle,
    full_width: bool = False,
) -> int:
    """Write one line per row: the label (by frame row) first, then the features.

    With `labels` None (test features) libsvm lines start with the placeholder label
    "0" and dense CSV lines have no label. `full_width` (the libsvm training channel)
    makes sure the highest feature index appears. Returns the number of bytes written.
    """
    sources: list[_BlockSource] = []
    if labels is not None:
        sources.append(_numbers_source(labels, "", None))
    elif style == "libsvm":
        sources.append(_ConstantBlock(_text_row("0")))
    sources.extend(_column_source(column, style) for column in columns)
    marker = _width_marker(rows, columns) if full_width and style == "libsvm" else None
    if marker is not None:
        sources.append(marker)
    sources.append(_ConstantBlock(_text_row("\n")))
    # Dense test features: the first feature's "," separator has nothing before it.
    drop_first_byte = labels is None and style == "csv"
    return _write_lines(path, rows, sources, drop_first_byte=drop_first_byte)


def write_numbers(path: Path, *, rows: RowIndex, numbers: Numbers) -> int:
    """One number per line (the test labels). Returns the number of bytes written."""
    sources = [_numbers_source(numbers, "", None), _ConstantBlock(_text_row("\n"))]
    return _write_lines(path, rows, sources, drop_first_byte=False)
