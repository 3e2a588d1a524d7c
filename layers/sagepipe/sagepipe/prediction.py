"""Prediction requests: parse, validate against a FeatureContract, encode, decode answers.

Pure Python, no pandas and no AWS: the predict function imports this on its cold start.
An encoded row is exactly a line of the test-features channel that preprocessing writes
(docs/design.md, "Channel formats"), so the endpoint sees requests in the form its model
was evaluated on.
"""

from __future__ import annotations

import gc
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from types import GenericAlias
from typing import Annotated, Any

from sagepipe.contract import OTHER_CATEGORY, FeatureContract
from sagepipe.errors import EndpointFailureError, RequestError

# InvokeEndpoint's request limit; Lambda's synchronous request limit is the same 6 MB.
MAX_PAYLOAD_BYTES = 6_291_456
# Number text, as preprocessing writes it (docs/design.md, "Channel formats"): a whole
# number below 2**53 in magnitude as an integer ("-0.0" as "0"), anything else as
# "%.9g", whose nine significant digits keep every float32 the algorithms read.
NUMBER_FORMAT = "%.9g"
INTEGER_FORMAT = "%d"
LIBSVM_PLACEHOLDER_LABEL = "0"

_FLOAT_MAX = sys.float_info.max
_EXACT_INTEGER_LIMIT = 2**53
_MESSAGE_VALUE_CHARS = 40
_MESSAGE_COLUMN_LIST = 20


class _Absent:
    """Marks a column that is not in a record at all (as opposed to null)."""


_ABSENT = _Absent()


@dataclass(frozen=True, slots=True)
class JsonConstant:
    """NaN, Infinity or -Infinity in a request: parsed so the error can name the cell."""

    text: str


def parse_instances(body: str | bytes, max_records: int) -> list[Any]:
    """The `instances` array of a request body, checked for shape and row count."""
    check_body_size(body)
    try:
        document = json.loads(body, parse_constant=JsonConstant)
    except UnicodeDecodeError as error:
        raise RequestError(f"request body is not UTF-8 text: {error.reason}") from error
    except json.JSONDecodeError as error:
        raise RequestError(f"request body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise RequestError("request body is nested too deeply") from error
    usage = 'send {"instances": [{"<column>": <value>, ...}, ...]}'
    if not isinstance(document, dict):
        raise RequestError(
            f"request body must be a JSON object, got {_describe(document)}: {usage}"
        )
    if "instances" not in document:
        raise RequestError(f"request body has no 'instances' field: {usage}")
    extra = sorted(key for key in document if key != "instances")
    if extra:
        raise RequestError(f"unknown field {extra[0]!r} in request body: {usage}")
    instances = document["instances"]
    if not isinstance(instances, list):
        raise RequestError(
            f"'instances' must be an array of row objects, got {_describe(instances)}"
        )
    _check_row_count(len(instances), max_records)
    return instances


def _check_row_count(rows: int, max_records: int) -> None:
    if not rows:
        raise RequestError("'instances' is empty: send at least one row")
    if rows > max_records:
        raise RequestError(
            f"'instances' has {rows} rows; at most {max_records} rows fit in one request"
        )


def check_body_size(body: str | bytes) -> None:
    """Refuse a body over MAX_PAYLOAD_BYTES before parsing any of it."""
    if isinstance(body, str):
        if 4 * len(body) <= MAX_PAYLOAD_BYTES:  # UTF-8 takes at most 4 bytes a character
            return
        size = len(body.encode("utf-8", "surrogatepass"))
    else:
        size = len(body)
    if size > MAX_PAYLOAD_BYTES:
        raise RequestError(
            f"request body is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes: "
            "send fewer rows per request"
        )


@dataclass(frozen=True)
class EncodedBatch:
    body: bytes
    content_type: str
    rows: int


_NONE = type(None)
_NUMERIC_KINDS = frozenset({float, int, _NONE})
_CATEGORY_KINDS = frozenset({str, int, _NONE})
_WHOLE_FLOAT_KINDS = frozenset({float, _NONE})


class _IrregularBatchError(Exception):
    """The batch holds something the fast path does not encode: find the error."""


@dataclass(frozen=True, slots=True)
class _Numeric:
    name: str
    prefix: str  # " <index>:" (libsvm) or "" (csv)
    missing: str  # the text of null: "" (libsvm, left out) or the prefixed fill


@dataclass(frozen=True, slots=True)
class _Categorical:
    name: str
    chunks: dict[object, str]  # value -> its encoded text
    other: str  # the text of a value outside the contract's categories


class RecordEncoder:
    """Validates raw records against one contract and encodes them for the endpoint.

    Build one per model version (contracts are immutable) and reuse it. The batch is
    encoded column by column with C-level builtins (type sets, one `%` format for the
    whole batch): a per-cell Python loop is several times slower. Anything irregular
    (a wrong type, a missing or unknown column, a non-finite number) sends the batch
    through a per-cell check that names the first bad row and column.
    """

    def __init__(self, contract: FeatureContract) -> None:
        if contract.content_type not in ("text/libsvm", "text/csv"):
            raise ValueError(f"unsupported content type {contract.content_type!r}")
        if contract.content_type == "text/csv" and contract.missing != "impute":
            raise ValueError("dense text/csv needs missing == 'impute'")
        self.contract = contract
        self.content_type: str = contract.content_type
        self._libsvm = contract.content_type == "text/libsvm"
        self._plan = tuple(self._build_plan(contract))
        self._names = contract.column_names
        self._name_set = frozenset(self._names)
        self._ignored = frozenset(d.name for d in contract.dropped) - self._name_set
        self._allowed = self._name_set | self._ignored
        self._getter = itemgetter(*self._names) if self._names else None
        self._typed_rows = _typed_rows_reader(self._plan, sorted(self._ignored))

    def _build_plan(self, contract: FeatureContract) -> list[_Numeric | _Categorical]:
        plan: list[_Numeric | _Categorical] = []
        index = 0
        for spec in contract.columns:
            if spec.kind == "numeric":
                prefix = f" {index}:" if self._libsvm else ""
                missing = ""
                if contract.missing == "impute":
                    if spec.fill is None or not math.isfinite(spec.fill):
                        raise ValueError(f"column {spec.name!r} has no finite fill to impute")
                    missing = prefix + number_text(spec.fill)
                plan.append(_Numeric(spec.name, prefix, missing))
                index += 1
                continue
            width = len(spec.categories) + 1
            if self._libsvm:
                texts = [f" {index + offset}:1" for offset in range(width)]
                missing = ""
            else:
                texts = [_one_hot(width, hot) for hot in range(width)]
                missing = ",".join("0" * width)
            entries: dict[object, str] = {None: missing, "": missing}
            for offset, value in enumerate(spec.categories):
                entries[value] = texts[offset]
            for offset, value in enumerate(spec.categories):
                # JSON integers match the category spelled as that integer ("7", not "07").
                if _is_canonical_int(value):
                    entries.setdefault(int(value), texts[offset])
            plan.append(_Categorical(spec.name, entries, texts[-1]))
            index += width
        if index != len(contract.features):
            raise ValueError("contract features do not match its columns")
        return plan

    def encode(self, instances: Sequence[Any]) -> EncodedBatch:
        """Encode every record, or raise RequestError naming the first bad row and column."""
        rows = len(instances)
        try:
            text = self._encode_records(instances) if rows else ""
        except _IrregularBatchError:
            raise self._first_error(instances) from None
        return self._batch(text, rows)

    def encode_request(self, body: str | bytes, max_records: int) -> EncodedBatch:
        """`encode(parse_instances(body, max_records))`, in one typed pass when it can.

        A decoder typed by the contract parses and type-checks the body in C, several
        times faster than `json.loads` alone, and hands over rows of floats, strings,
        integers and nulls. Whatever it refuses, or the encoder finds irregular, takes the
        reference path, which gives the same batch or names the first problem: the two
        never disagree on what a request means.
        """
        check_body_size(body)
        # The typed pass holds one tuple per record at once and makes no reference
        # cycles, so the cyclic collector is paused for it: at 1,000 records it set off
        # young collections that only walked those tuples (2.88 -> 2.77 ms a request).
        collecting = gc.isenabled()
        gc.disable()
        try:
            batch = self._typed_batch(body, max_records)
        finally:
            if collecting:
                gc.enable()
        if batch is not None:
            return batch
        return self.encode(parse_instances(body, max_records))

    def _typed_batch(self, body: str | bytes, max_records: int) -> EncodedBatch | None:
        rows = self._typed_rows(body)
        if rows is None:
            return None
        _check_row_count(len(rows), max_records)
        columns = list(zip(*rows, strict=True))[: len(self._plan)]
        try:
            text = self._encode_columns(columns, len(rows), typed=True)
        except _IrregularBatchError:
            return None
        return self._batch(text, len(rows))

    def _batch(self, text: str, rows: int) -> EncodedBatch:
        body = text.encode()
        if len(body) > MAX_PAYLOAD_BYTES:
            fit = max(1, rows * MAX_PAYLOAD_BYTES // len(body))
            raise RequestError(
                f"the {rows} rows encode to {len(body)} bytes, over the endpoint's "
                f"limit of {MAX_PAYLOAD_BYTES} bytes: send at most about {fit} rows per request"
            )
        return EncodedBatch(body=body, content_type=self.content_type, rows=rows)

    def _encode_records(self, instances: Sequence[Any]) -> str:
        if set(map(type, instances)) != {dict}:
            raise _IrregularBatchError
        if set(map(len, instances)) != {len(self._names)} and not (
            set[str]().union(*instances) <= self._allowed
        ):
            raise _IrregularBatchError
        return self._encode_columns(self._columns(instances), len(instances), typed=False)

    def _encode_columns(
        self, columns: Sequence[Sequence[Any]], rows: int, *, typed: bool, exact: bool = False
    ) -> str:
        """The batch's text. `typed` columns come from the typed parser, which has already
        checked their types and kept numbers below 2**53 in magnitude. Floats are
        written with one "%.9g" unless `exact`, which applies the integer rule value by
        value (needed only at or above 1e9)."""
        parts: list[str] = []
        values: list[Sequence[object]] = []
        general = False  # whether any value went through "%.9g", which writes -0.0 as "-0"
        for column, cells in zip(self._plan, columns, strict=True):
            if isinstance(column, _Categorical):
                if not typed and not set(map(type, cells)) <= _CATEGORY_KINDS:
                    raise _IrregularBatchError
                parts.append("%s")
                values.append(list(map(column.chunks.get, cells, repeat(column.other))))
                continue
            kinds = set(map(type, cells))
            if not typed and not kinds <= _NUMERIC_KINDS:
                raise _IrregularBatchError
            has_null = _NONE in kinds
            numbers = [cell for cell in cells if cell is not None] if has_null else cells
            if float in kinds and not (
                kinds <= _WHOLE_FLOAT_KINDS and all(map(float.is_integer, numbers))
            ):
                number_format = None if exact else NUMBER_FORMAT
                general = True
            else:
                # Integers, or floats that are all whole numbers (JSON clients often
                # write 2112.0): "%d" writes both as the channels do, at about half
                # the cost of "%.9g".
                number_format = INTEGER_FORMAT if typed else _integer_format(numbers)
            if number_format is not None and not has_null:
                parts.append(column.prefix + number_format)
                values.append(numbers)
                continue
            if number_format is not None:
                texts = _format_each(column.prefix + number_format, numbers)
            else:
                texts = [column.prefix + text for text in map(_number_text, numbers)]
            parts.append("%s")
            values.append(_splice(cells, texts, column.missing) if has_null else texts)
        if self._libsvm:
            row_format = LIBSVM_PLACEHOLDER_LABEL + "".join(parts) + "\n"
        else:
            row_format = ",".join(parts) + "\n"
        flat = tuple(chain.from_iterable(zip(*values, strict=True)))
        try:
            text = (row_format * rows) % flat
        except (TypeError, ValueError, OverflowError) as error:
            raise _IrregularBatchError from error
        # A non-finite float formats as "nan", "inf" or "-inf"; nothing else written
        # here contains an "n" (digits, ".", "-", "+", "e", ":", "," and spaces only).
        if "n" in text:
            raise _IrregularBatchError
        # "%.9g" writes a magnitude of 1e9 or more with an exponent ("e+", the only "+"
        # written), which is wrong for a whole number below 2**53: such batches take the
        # value-by-value rule.
        if not exact and "+" in text:
            return self._encode_columns(columns, rows, typed=typed, exact=True)
        return _without_negative_zero(text, libsvm=self._libsvm)[:-1] if general else text[:-1]

    def _columns(self, instances: Sequence[Any]) -> list[Sequence[Any]]:
        if self._getter is None:
            return []
        try:
            rows = list(map(self._getter, instances))
        except KeyError as error:
            raise _IrregularBatchError from error
        if len(self._names) == 1:
            return [rows]
        return list(zip(*rows, strict=True))

    def _first_error(self, instances: Sequence[Any]) -> RequestError:
        """The first bad cell in row order; called only when the fast path gave up."""
        for row_index, row in enumerate(instances):
            if type(row) is not dict:
                return RequestError(
                    f"row {row_index} (instances[{row_index}]): expected an object of column "
                    f"values, got {_describe(row)}"
                )
            for column in self._plan:
                value = row.get(column.name, _ABSENT)
                if value is _ABSENT:
                    reason = "missing: every column is required (send null for an unknown value)"
                elif isinstance(column, _Numeric):
                    if value is None or (
                        type(value) in (int, float) and -_FLOAT_MAX <= value <= _FLOAT_MAX
                    ):
                        continue
                    reason = f"expected a finite number or null, got {_describe(value)}"
                else:
                    if value is None or type(value) in (str, int):
                        continue
                    reason = f"expected a string, an integer or null, got {_describe(value)}"
                return RequestError(_where(row_index, column.name, reason))
            for key in row:
                if key in self._allowed:
                    continue
                if key == self.contract.target:
                    reason = "is the target the model predicts: leave it out"
                else:
                    reason = f"unknown column; the model expects {_column_list(self.contract)}"
                return RequestError(_where(row_index, key, reason))
        raise RuntimeError("the encoder rejected a batch in which no cell is invalid")


def _typed_rows_reader(
    plan: Sequence[_Numeric | _Categorical], ignored: Sequence[str]
) -> Callable[[str | bytes], list[tuple[Any, ...]] | None]:
    """A request parser typed by the contract: each record's values in plan order (then
    the ignored columns'), or None for any body it refuses.

    It accepts a subset of what `parse_instances` and the encoder accept: every column
    present, no other key, a number below 2**53 in magnitude or null in a numeric column,
    a string, an integer or null in a categorical one. What it refuses is left to them.
    """
    import msgspec  # on the first request rather than at cold start (about 5 ms)

    exact = msgspec.Meta(gt=-_EXACT_INTEGER_LIMIT, lt=_EXACT_INTEGER_LIMIT)
    number = Annotated[int, exact] | Annotated[float, exact] | None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (f"c{index}", number if isinstance(column, _Numeric) else str | int | None)
        for index, column in enumerate(plan)
    ]
    fields += [(f"i{index}", Any, None) for index in range(len(ignored))]
    names = [column.name for column in plan] + list(ignored)
    record = msgspec.defstruct(
        "Record",
        fields,
        rename={field[0]: name for field, name in zip(fields, names, strict=True)},
        forbid_unknown_fields=True,
        gc=False,
    )
    request = msgspec.defstruct(
        "Request",
        [("instances", GenericAlias(list, (record,)))],
        forbid_unknown_fields=True,
        gc=False,
    )
    decoder = msgspec.json.Decoder(request)
    astuple = msgspec.structs.astuple

    def read(body: str | bytes) -> list[tuple[Any, ...]] | None:
        try:
            decoded: Any = decoder.decode(body)
        except msgspec.MsgspecError:
            return None
        return list(map(astuple, decoded.instances))

    return read


def number_text(value: float) -> str:
    """The channel text of one finite number (see NUMBER_FORMAT)."""
    try:
        return _number_text(value)
    except _IrregularBatchError as error:
        raise ValueError(f"{value!r} is not a finite number") from error


def _number_text(value: float) -> str:
    if type(value) is int or value.is_integer():
        if -_EXACT_INTEGER_LIMIT < value < _EXACT_INTEGER_LIMIT:
            return INTEGER_FORMAT % value
    elif not math.isfinite(value):
        raise _IrregularBatchError
    try:
        return NUMBER_FORMAT % value
    except OverflowError as error:  # an integer beyond the largest float
        raise _IrregularBatchError from error


def _integer_format(numbers: Sequence[int]) -> str | None:
    """INTEGER_FORMAT when every integer is below 2**53 in magnitude."""
    if not numbers or (
        min(numbers) > -_EXACT_INTEGER_LIMIT and max(numbers) < _EXACT_INTEGER_LIMIT
    ):
        return INTEGER_FORMAT
    return None


_NEGATIVE_ZERO_FIELD = re.compile(r"(?<![^,\n])-0(?=[,\n])")


def _without_negative_zero(text: str, *, libsvm: bool) -> str:
    """Write -0.0 as the channels do ("0"), not as "%.9g" does ("-0")."""
    if libsvm:
        if ":-0 " in text or ":-0\n" in text:
            return text.replace(":-0 ", ":0 ").replace(":-0\n", ":0\n")
        return text
    if "-0," in text or "-0\n" in text:
        return _NEGATIVE_ZERO_FIELD.sub("0", text)
    return text


def _format_each(number_format: str, cells: Sequence[object]) -> list[str]:
    """`number_format % cell` for every cell, in one `%` call: per-cell calls cost 2-3x."""
    return ((number_format + "\x00") * len(cells) % tuple(cells)).split("\x00")[:-1]


def _splice(cells: Sequence[object], texts: list[str], missing: str) -> list[str]:
    """The texts of the non-null cells, in order, with `missing` where a cell is null."""
    take = iter(texts).__next__
    return [missing if cell is None else take() for cell in cells]


def _one_hot(width: int, hot: int) -> str:
    return ",".join("1" if position == hot else "0" for position in range(width))


def _is_canonical_int(text: str) -> bool:
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def _where(row_index: int, column: str, reason: str) -> str:
    return f"row {row_index} (instances[{row_index}]), column {_short(column)!r}: {reason}"


def _column_list(contract: FeatureContract) -> str:
    names = contract.column_names
    shown = ", ".join(repr(n) for n in names[:_MESSAGE_COLUMN_LIST])
    more = len(names) - _MESSAGE_COLUMN_LIST
    return f"{shown} and {more} more" if more > 0 else shown


def _short(text: str) -> str:
    if len(text) <= _MESSAGE_VALUE_CHARS:
        return text
    return text[: _MESSAGE_VALUE_CHARS - 3] + "..."


def _describe(value: object) -> str:
    """A short, safe description of a JSON value for an error message."""
    if isinstance(value, JsonConstant):
        return f"{value.text} (not a finite number)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "a number out of range"
        text = repr(value)
        return f"number {text}" if len(text) <= _MESSAGE_VALUE_CHARS else "a number out of range"
    if isinstance(value, str):
        return f"string {_short(value)!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def describe_contract(contract: FeatureContract) -> dict[str, Any]:
    """The input a prediction request must carry, for GET /models/<model>."""
    columns: list[dict[str, Any]] = []
    for spec in contract.columns:
        if spec.kind == "numeric":
            columns.append({"name": spec.name, "type": "number", "nullable": True})
        else:
            columns.append(
                {
                    "name": spec.name,
                    "type": "category",
                    "nullable": True,
                    "categories": list(spec.categories),
                }
            )
    return {
        "columns": columns,
        "ignored_columns": sorted({d.name for d in contract.dropped} - set(contract.column_names)),
        "notes": (
            "Send every column in each row; null means unknown. Numeric columns take JSON "
            "numbers; categorical columns take strings or integers, and values outside "
            f"'categories' are treated as '{OTHER_CATEGORY}'. Do not send the target "
            f"{contract.target!r}."
        ),
    }


def decode_predictions(body: bytes, content_type: str | None, expected_rows: int) -> list[float]:
    """Scores from an endpoint answer: JSON {"predictions": [{"score": x}, ...]} or text/csv."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise EndpointFailureError("the endpoint answered with undecodable bytes") from error
    if "json" in media or (not media and text.lstrip().startswith("{")):
        predictions = _json_scores(text)
    elif media in ("text/csv", "text/plain", ""):
        predictions = _csv_scores(text)
    else:
        raise EndpointFailureError(f"the endpoint answered with content type {media!r}")
    if len(predictions) != expected_rows:
        raise EndpointFailureError(
            f"the endpoint answered {len(predictions)} predictions for {expected_rows} rows"
        )
    return predictions


def _json_scores(text: str) -> list[float]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise EndpointFailureError("the endpoint answered with invalid JSON") from error
    items = document.get("predictions") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise EndpointFailureError("the endpoint's JSON answer has no 'predictions' array")
    scores: list[float] = []
    for index, item in enumerate(items):
        value = item.get("score") if isinstance(item, dict) else item
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EndpointFailureError(f"the endpoint's prediction {index} has no numeric score")
        scores.append(_finite(float(value), index))
    return scores


def _csv_scores(text: str) -> list[float]:
    tokens = text.replace(",", " ").split()
    try:
        scores = list(map(float, tokens))
    except ValueError:
        for index, token in enumerate(tokens):
            try:
                float(token)
            except ValueError as error:
                raise EndpointFailureError(
                    f"the endpoint's prediction {index} is not a number: {_short(token)!r}"
                ) from error
        raise
    if not all(map(math.isfinite, scores)):
        for index, value in enumerate(scores):
            _finite(value, index)
    return scores


def _finite(value: float, index: int) -> float:
    if not math.isfinite(value):
        raise EndpointFailureError(f"the endpoint's prediction {index} is not finite ({value})")
    return value
