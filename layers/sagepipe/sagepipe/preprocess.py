"""Preprocessing: an uploaded CSV -> training channels, feature contract and profile.

The steps: read the file (preprocess_read), check the target and drop rows without one,
split train/validation/test from the seed, decide per column (numeric, one-hot
categorical, or dropped and why) with medians and category lists taken from the
training rows only, then write the channels (preprocess_channels) in the form the
algorithm's built-in container expects.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sagepipe.contract import (
    ColumnSpec,
    ContentType,
    DroppedColumn,
    FeatureContract,
    MissingPolicy,
)
from sagepipe.errors import ConfigError, InputDataError
from sagepipe.pipeline_config import Algorithm, PipelineConfig
from sagepipe.preprocess_channels import (
    ChannelColumn,
    ChannelStyle,
    CodedNumbers,
    Numbers,
    NumericChannelColumn,
    OneHotChannelColumn,
    RowIndex,
    compact_codes,
    encode_numbers,
    write_channel,
    write_numbers,
)
from sagepipe.preprocess_read import MISSING_TEXT, read_frame, read_header, where
from sagepipe.run_state import Prepared

ColumnType = Literal["numeric", "categorical"]
ColumnRole = Literal["feature", "target", "dropped"]

# More than this share of rows without a target means the file is not usable.
MAX_MISSING_TARGET_SHARE = 0.5
# A text column with more distinct values than this share of the rows (and more than
# max_categories) is taken for an identifier.
IDENTIFIER_DISTINCT_SHARE = 0.5
# Distinct texts of a column tried as numbers before it is taken for a text column.
_NUMERIC_PROBE_SIZE = 64
_NAMES_SHOWN = 20


@dataclass(frozen=True)
class ChannelFormat:
    style: ChannelStyle
    extension: str
    missing: MissingPolicy
    content_type: ContentType


CHANNEL_FORMATS: dict[Algorithm, ChannelFormat] = {
    "xgboost": ChannelFormat("libsvm", "libsvm", "native", "text/libsvm"),
    "linear-learner": ChannelFormat("csv", "csv", "impute", "text/csv"),
}


@dataclass(frozen=True)
class PreprocessSettings:
    max_categories: int = 20
    min_rows: int = 20

    def __post_init__(self) -> None:
        for key, value in (("max_categories", self.max_categories), ("min_rows", self.min_rows)):
            if value < 1:
                raise ConfigError(f"{key} must be at least 1, not {value}")


@dataclass(frozen=True)
class PreparedRun:
    contract: FeatureContract
    rows: dict[str, int]  # "input", "dropped_missing_target", "train", "validation", "test"
    files: dict[str, str]  # channel -> path relative to out_dir
    profile: dict[str, Any]  # JSON-able


def run_file_uris(run_root_uri: str, result: PreparedRun) -> dict[str, str]:
    """Channel -> URI of its file once `out_dir` is copied to `run_root_uri` (ends in /)."""
    return {channel: f"{run_root_uri}{relative}" for channel, relative in result.files.items()}


def prepared_record(
    config: PipelineConfig, result: PreparedRun, uris: Mapping[str, str]
) -> Prepared:
    """The step result both preprocessing paths return (the Lambda, the processing job)."""
    return Prepared(
        config=config.model_dump(),
        algorithm=config.algorithm,
        content_type=result.contract.content_type,
        train_uri=uris["train"],
        validation_uri=uris.get("validation"),
        test_features_uri=uris["test_features"],
        test_labels_uri=uris["test_labels"],
        schema_uri=uris["schema"],
        profile_uri=uris["profile"],
        rows=dict(result.rows),
        feature_count=len(result.contract.features),
        train_target_mean=float(result.profile["train_target_mean"]),
        dropped=[{"name": d.name, "reason": d.reason} for d in result.contract.dropped],
    )


def channel_paths(algorithm: Algorithm, *, with_validation: bool) -> dict[str, str]:
    """Channel -> path relative to the run's output directory."""
    extension = CHANNEL_FORMATS[algorithm].extension
    files = {
        "train": f"data/train/train.{extension}",
        "validation": f"data/validation/validation.{extension}",
        "test_features": f"data/test/features.{extension}",
        "test_labels": "data/test/labels.csv",
        "schema": "schema.json",
        "profile": "profile.json",
    }
    if not with_validation:
        del files["validation"]
    return files


@dataclass(frozen=True)
class _Split:
    train: RowIndex
    validation: RowIndex
    test: RowIndex


@dataclass(frozen=True)
class _ColumnReport:
    name: str
    type: ColumnType
    role: ColumnRole
    missing: int
    distinct: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "role": self.role,
            "missing": self.missing,
        }
        if self.distinct is not None:
            data["distinct"] = self.distinct
        return data


@dataclass(frozen=True)
class _Numeric:
    numbers: Numbers
    fill: float


@dataclass(frozen=True)
class _Categorical:
    positions: NDArray[np.signedinteger[Any]]


def preprocess_file(
    source: Path,
    *,
    source_name: str,
    model: str,
    config: PipelineConfig,
    settings: PreprocessSettings,
    out_dir: Path,
    on_written: Callable[[str], None] | None = None,
) -> PreparedRun:
    """Read `source` (.csv or .csv.gz), write the channels under `out_dir`.

    `on_written` gets each file's path relative to `out_dir` once the file is complete
    (channels, then schema, then profile), so that its upload can overlap the writing
    of the rest.

    Raises InputDataError for unusable data and ConfigError when the config names a
    column the file does not have.
    """
    started = time.perf_counter()
    header = read_header(source, source_name)
    _check_header(header, config, source_name)
    frame = read_frame(source, source_name, config.categorical_columns)
    if len(frame) == 0:
        raise InputDataError(f"{source_name} has a header but no data rows")
    read_seconds = time.perf_counter() - started

    input_rows = len(frame)
    target = _target_values(frame[config.target], source, source_name, config.target)
    kept_rows = np.flatnonzero(~np.isnan(target))
    dropped_missing = input_rows - kept_rows.size
    if dropped_missing > MAX_MISSING_TARGET_SHARE * input_rows:
        raise InputDataError(
            f"{source_name}: target column {config.target!r} is empty in {dropped_missing} "
            f"of {input_rows} data rows (more than half)"
        )
    split = _split_rows(kept_rows, config, settings, source_name, dropped_missing)
    columns = _analyse_columns(
        frame,
        source=source,
        source_name=source_name,
        config=config,
        settings=settings,
        kept_rows=kept_rows,
        train_rows=split.train,
    )
    del frame  # the encoded columns are all that is needed from here on

    channel_format = CHANNEL_FORMATS[config.algorithm]
    contract = FeatureContract(
        model=model,
        target=config.target,
        algorithm=config.algorithm,
        columns=tuple(feature.spec for feature in columns.features),
        missing=channel_format.missing,
        content_type=channel_format.content_type,
        dropped=tuple(columns.dropped),
    )
    analysed = time.perf_counter()

    files = channel_paths(config.algorithm, with_validation=split.validation.size > 0)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = on_written or (lambda relative: None)
    written = _write_channels(
        out_dir,
        files,
        columns=_channel_columns(columns.features),
        target=target,
        split=split,
        style=channel_format.style,
        on_written=done,
    )
    (out_dir / files["schema"]).write_text(contract.to_json(), encoding="utf-8")
    done(files["schema"])
    finished = time.perf_counter()

    rows = {
        "input": input_rows,
        "dropped_missing_target": dropped_missing,
        "train": int(split.train.size),
        "validation": int(split.validation.size),
        "test": int(split.test.size),
    }
    profile: dict[str, Any] = {
        "source": source_name,
        "model": model,
        "target": config.target,
        "algorithm": config.algorithm,
        "content_type": channel_format.content_type,
        "seed": config.seed,
        "rows": rows,
        "train_target_mean": float(target[split.train].mean()),
        "columns_seen": list(header),
        "columns": [report.to_dict() for report in columns.reports],
        "dropped": [{"name": d.name, "reason": d.reason} for d in columns.dropped],
        "feature_count": len(contract.features),
        "bytes_written": written,
        "timings_seconds": {
            "read": round(read_seconds, 4),
            "analyse": round(analysed - started - read_seconds, 4),
            "write": round(finished - analysed, 4),
            "total": round(finished - started, 4),
        },
    }
    (out_dir / files["profile"]).write_text(json.dumps(profile, indent=2), encoding="utf-8")
    done(files["profile"])
    return PreparedRun(contract=contract, rows=rows, files=files, profile=profile)


@dataclass(frozen=True)
class _Columns:
    features: list[_Feature]
    dropped: list[DroppedColumn]
    reports: list[_ColumnReport]  # every column of the file, in file order


def _analyse_columns(
    frame: pd.DataFrame,
    *,
    source: Path,
    source_name: str,
    config: PipelineConfig,
    settings: PreprocessSettings,
    kept_rows: RowIndex,
    train_rows: RowIndex,
) -> _Columns:
    columns = _Columns(features=[], dropped=[], reports=[])
    for name in (str(column) for column in frame.columns):
        series = frame[name]
        if name == config.target:
            missing = len(frame) - kept_rows.size
            columns.reports.append(_ColumnReport(name, "numeric", "target", missing))
            continue
        if name in config.drop_columns:
            columns.reports.append(_listed_drop_report(series))
            columns.dropped.append(DroppedColumn(name, "listed in drop_columns"))
            continue
        outcome = _analyse_column(
            series,
            source=source,
            source_name=source_name,
            declared_categorical=name in config.categorical_columns,
            kept_rows=kept_rows,
            train_rows=train_rows,
            max_categories=settings.max_categories,
        )
        columns.reports.append(outcome.report)
        if isinstance(outcome, _Dropped):
            columns.dropped.append(DroppedColumn(name, outcome.reason))
        else:
            columns.features.append(outcome)
    if not columns.features:
        reasons = "; ".join(f"{d.name}: {d.reason}" for d in columns.dropped)
        raise InputDataError(
            f"{source_name}: no feature column is left besides the target "
            f"{config.target!r} ({reasons or 'the file has no other column'})"
        )
    return columns


def _check_header(header: Sequence[str], config: PipelineConfig, source_name: str) -> None:
    counts = Counter(header)
    duplicates = [name for name, count in counts.items() if count > 1]
    if duplicates:
        described = ", ".join(
            f"{name!r} (columns {', '.join(str(i + 1) for i, n in enumerate(header) if n == name)})"
            for name in duplicates
        )
        raise InputDataError(f"{source_name}: duplicate column names in the header: {described}")
    present = set(header)
    if config.target not in present:
        raise ConfigError(
            f"target: column {config.target!r} is not in {source_name}; "
            f"its columns are {_names_list(header)}"
        )
    if config.target in config.categorical_columns:
        raise ConfigError(f"categorical_columns: contains the target {config.target!r}")
    for key, listed in (
        ("drop_columns", config.drop_columns),
        ("categorical_columns", config.categorical_columns),
    ):
        unknown = [name for name in listed if name not in present]
        if unknown:
            raise ConfigError(
                f"{key}: {_names_list(unknown)} not in {source_name}; "
                f"its columns are {_names_list(header)}"
            )


def _names_list(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f", ... ({len(names)} in all)"
    return shown


def _target_values(
    column: pd.Series, source: Path, source_name: str, target: str
) -> NDArray[np.float64]:
    """The target as float64 (NaN where empty); rejects text and infinite values."""
    if _is_numeric(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = pd.to_numeric(column, errors="coerce")
        invalid = numbers.isna().to_numpy() & column.notna().to_numpy()
        invalid &= ~column.isin(MISSING_TEXT).to_numpy()
        if invalid.any():
            first = int(np.argmax(invalid))
            others = int(np.count_nonzero(invalid)) - 1
            raise InputDataError(
                f"{source_name}: target column {target!r} must be numeric; "
                f"{where(source, first + 1)} has {column.iloc[first]!r}"
                + (f" ({others} more rows are not numbers either)" if others else "")
            )
        values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.argmax(infinite))
        raise InputDataError(
            f"{source_name}: target column {target!r} must be a finite number; "
            f"{where(source, first + 1)} has {float(values[first])!r}"
        )
    return values


def _is_numeric(column: pd.Series) -> bool:
    dtype = column.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _split_rows(
    kept_rows: RowIndex,
    config: PipelineConfig,
    settings: PreprocessSettings,
    source_name: str,
    dropped_missing: int,
) -> _Split:
    count = kept_rows.size
    test_count = max(1, round(count * config.test_fraction))
    validation_count = (
        max(1, round(count * config.validation_fraction)) if config.validation_fraction else 0
    )
    if count < settings.min_rows or count - test_count - validation_count < 1:
        dropped = f" ({dropped_missing} more have no target value)" if dropped_missing else ""
        raise InputDataError(
            f"{source_name}: too few rows: {count} data rows with a target value{dropped}, "
            f"at least {max(settings.min_rows, 3 if validation_count else 2)} are needed"
        )
    order = kept_rows[np.random.default_rng(config.seed).permutation(count)]
    validation_end = test_count + validation_count
    # Training rows stay shuffled (for SGD); the others keep the file's order.
    return _Split(
        train=order[validation_end:],
        validation=np.sort(order[test_count:validation_end]),
        test=np.sort(order[:test_count]),
    )


@dataclass(frozen=True)
class _Feature:
    report: _ColumnReport
    spec: ColumnSpec
    encoding: _Numeric | _Categorical


@dataclass(frozen=True)
class _Dropped:
    report: _ColumnReport
    reason: str


_ColumnOutcome = _Feature | _Dropped


def _listed_drop_report(series: pd.Series) -> _ColumnReport:
    column_type: ColumnType = "numeric" if _is_numeric(series) else "categorical"
    return _ColumnReport(str(series.name), column_type, "dropped", int(series.isna().sum()))


def _analyse_column(
    series: pd.Series,
    *,
    source: Path,
    source_name: str,
    declared_categorical: bool,
    kept_rows: RowIndex,
    train_rows: RowIndex,
    max_categories: int,
) -> _ColumnOutcome:
    name = str(series.name)
    if not declared_categorical:
        if _is_numeric(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            return _analyse_numeric(name, values, source, source_name, train_rows)
        codes, uniques = pd.factorize(series)
        numbers = _numbers_of_text(uniques)
        if numbers is not None:
            # Numbers written with "NA"-like gaps: NaN for those, and for empty (-1).
            values = np.append(numbers, np.nan)[codes]
            return _analyse_numeric(name, values, source, source_name, train_rows)
    else:
        codes, uniques = pd.factorize(series)
    return _analyse_categorical(
        name,
        compact_codes(codes, len(uniques)),
        np.asarray(uniques, dtype=object),
        declared=declared_categorical,
        kept_rows=kept_rows,
        train_rows=train_rows,
        max_categories=max_categories,
    )


def _numbers_of_text(uniques: pd.Index) -> NDArray[np.float64] | None:
    """The distinct texts as numbers (NaN for "NA" and the like), or None if any is text."""
    texts = pd.Series(np.asarray(uniques, dtype=object))
    probe = texts.iloc[:_NUMERIC_PROBE_SIZE]
    probe = probe[~probe.isin(MISSING_TEXT)]
    if probe.empty or pd.to_numeric(probe, errors="coerce").isna().any():
        return None
    missing = texts.isin(MISSING_TEXT).to_numpy()
    numbers = pd.to_numeric(texts.where(~missing), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    if np.isnan(numbers[~missing]).any():
        return None
    return numbers


def _analyse_numeric(
    name: str,
    values: NDArray[np.float64],
    source: Path,
    source_name: str,
    train_rows: RowIndex,
) -> _ColumnOutcome:
    numbers = encode_numbers(values)
    if isinstance(numbers, CodedNumbers):
        missing = int(np.count_nonzero(numbers.codes < 0))
        infinite_code = np.flatnonzero(np.isinf(numbers.levels))
        infinite_row = (
            int(np.argmax(numbers.codes == infinite_code[0])) if infinite_code.size else None
        )
        train_counts = _code_counts(numbers.codes[train_rows], numbers.levels.size)
        seen = np.flatnonzero(train_counts)
        seen_values = numbers.levels[seen]
        seen_counts: NDArray[np.int64] | None = train_counts[seen]
    else:
        missing = int(np.count_nonzero(np.isnan(values)))
        infinite = np.isinf(values)
        infinite_row = int(np.argmax(infinite)) if infinite.any() else None
        seen_values = values[train_rows]
        seen_values = seen_values[~np.isnan(seen_values)]
        seen_counts = None
    if infinite_row is not None:
        raise InputDataError(
            f"{source_name}: column {name!r} must hold finite numbers; "
            f"{where(source, infinite_row + 1)} has {float(values[infinite_row])!r}"
        )
    dropped = _ColumnReport(name, "numeric", "dropped", missing)
    if seen_values.size == 0:
        return _Dropped(dropped, "constant: no values in the training rows")
    lowest = float(seen_values.min())
    if lowest == float(seen_values.max()):
        return _Dropped(dropped, f"constant: every training value is {lowest:g}")
    fill = _median(seen_values, seen_counts)
    return _Feature(
        _ColumnReport(name, "numeric", "feature", missing),
        spec=ColumnSpec(name=name, kind="numeric", fill=fill),
        encoding=_Numeric(numbers=numbers, fill=fill),
    )


def _median(values: NDArray[np.float64], counts: NDArray[np.int64] | None) -> float:
    """np.median of the values, each repeated `counts` times when given."""
    if counts is None:
        return float(np.median(values))
    order = np.argsort(values)
    ordered = values[order]
    cumulative = np.cumsum(counts[order])
    total = int(cumulative[-1])

    def at(position: int) -> float:
        return float(ordered[np.searchsorted(cumulative, position, side="right")])

    if total % 2:
        return at(total // 2)
    low, high = at(total // 2 - 1), at(total // 2)
    middle = (low + high) / 2
    return middle if np.isfinite(middle) else low / 2 + high / 2


def _analyse_categorical(
    name: str,
    codes: NDArray[np.signedinteger[Any]],
    uniques: NDArray[np.object_],
    *,
    declared: bool,
    kept_rows: RowIndex,
    train_rows: RowIndex,
    max_categories: int,
) -> _ColumnOutcome:
    missing = int(np.count_nonzero(codes < 0))
    distinct = int(np.count_nonzero(_code_counts(codes[kept_rows], uniques.size)))
    train_counts = _code_counts(codes[train_rows], uniques.size)
    train_distinct = int(np.count_nonzero(train_counts))
    report = _ColumnReport(name, "categorical", "feature", missing, distinct)
    dropped = _ColumnReport(name, "categorical", "dropped", missing, distinct)
    if train_distinct == 0:
        return _Dropped(dropped, "constant: no values in the training rows")
    if train_distinct == 1:
        only = str(uniques[int(np.argmax(train_counts))])
        return _Dropped(dropped, f"constant: every training value is {only!r}")
    rows = kept_rows.size
    if not declared and distinct > IDENTIFIER_DISTINCT_SHARE * rows and distinct > max_categories:
        return _Dropped(dropped, f"identifier-like: {distinct} distinct values in {rows} rows")
    chosen = _most_frequent(train_counts, uniques, max_categories)
    other = len(chosen)
    lookup = np.full(uniques.size + 1, other, dtype=np.int32)
    lookup[chosen] = np.arange(other, dtype=np.int32)
    lookup[-1] = -1  # code -1 (missing) indexes the last slot: no feature
    categories = tuple(str(uniques[index]) for index in chosen)
    return _Feature(
        report,
        spec=ColumnSpec(name=name, kind="categorical", categories=categories),
        encoding=_Categorical(positions=compact_codes(lookup, other + 1)[codes]),
    )


def _code_counts(codes: NDArray[np.signedinteger[Any]], size: int) -> NDArray[np.int64]:
    """How often each code occurs; missing values (-1) are not counted."""
    return np.bincount(codes + 1, minlength=size + 1)[1:]


def _most_frequent(
    counts: NDArray[np.int64], uniques: NDArray[np.object_], limit: int
) -> list[int]:
    """Indices of at most `limit` values seen, by count (high first), then by value."""
    seen = np.flatnonzero(counts > 0)
    if seen.size > limit:
        # Everything above the limit-th largest count is in; the rest comes from the
        # values tied at that count, smallest first.
        threshold = np.partition(counts[seen], seen.size - limit)[seen.size - limit]
        above = seen[counts[seen] > threshold].tolist()
        tied = seen[counts[seen] == threshold].tolist()
        picked = heapq.nsmallest(limit - len(above), tied, key=lambda i: str(uniques[i]))
        seen = np.array(above + picked, dtype=np.intp)
    return sorted(seen.tolist(), key=lambda i: (-int(counts[i]), str(uniques[i])))


def _channel_columns(features: Sequence[_Feature]) -> list[ChannelColumn]:
    columns: list[ChannelColumn] = []
    feature_index = 0
    for feature in features:
        width = len(feature.spec.feature_names())
        encoding = feature.encoding
        if isinstance(encoding, _Numeric):
            columns.append(NumericChannelColumn(encoding.numbers, feature_index, encoding.fill))
        else:
            columns.append(OneHotChannelColumn(encoding.positions, feature_index, width))
        feature_index += width
    return columns


def _write_channels(
    out_dir: Path,
    files: dict[str, str],
    *,
    columns: Sequence[ChannelColumn],
    target: NDArray[np.float64],
    split: _Split,
    style: ChannelStyle,
    on_written: Callable[[str], None],
) -> dict[str, int]:
    labels = encode_numbers(target)
    channels: list[tuple[str, RowIndex, bool]] = [("train", split.train, True)]
    if "validation" in files:
        channels.append(("validation", split.validation, True))
    channels.append(("test_features", split.test, False))
    written = {}
    for name, rows, labelled in channels:
        written[name] = write_channel(
            out_dir / files[name],
            rows=rows,
            columns=columns,
            labels=labels if labelled else None,
            style=style,
            full_width=name == "train",
        )
        on_written(files[name])
    written["test_labels"] = write_numbers(
        out_dir / files["test_labels"], rows=split.test, numbers=labels
    )
    on_written(files["test_labels"])
    return written
