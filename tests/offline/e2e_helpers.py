"""Helpers of the offline end-to-end tests: data sets, runs, HTTP clients, references.

Everything that touches the stack goes through what a user has: S3 uploads, the Step
Functions API and HTTP to the prediction API (sagepipe_local.runs). The references are
computed locally with the library's own preprocessing and xgboost/numpy.
"""

from __future__ import annotations

import csv
import json
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

from sagepipe.pipeline_config import PipelineConfig, PipelineDefaults, resolve_pipeline_config
from sagepipe.prediction import RecordEncoder
from sagepipe.preprocess import PreparedRun, PreprocessSettings, preprocess_file
from sagepipe.training import hyperparameters
from sagepipe_local.runs import (
    HttpAnswer,
    RunResult,
    find_execution,
    http_json,
    upload,
    wait_for_execution,
)

if TYPE_CHECKING:
    from sagepipe_local.stack import LocalStack

TARGET = "price"
NUMERIC = ("sqft", "rooms", "age", "distance")
CATEGORICAL = ("city", "zone", "style")
IDENTIFIER = "listing"
# File order: the identifier first, the target in the middle, a categorical column last.
COLUMNS = ("listing", "sqft", "rooms", "city", "age", TARGET, "zone", "distance", "style")
CITIES = ("northfield", "eastbrook", "westport", "southgate", "midvale")
CITY_WEIGHTS = (0.35, 0.25, 0.2, 0.12, 0.08)
STYLES = ("ranch", "colonial", "modern", "victorian")
ZONES = ("1", "2", "3", "4", "5", "6")  # codes: categorical_columns in pipeline.json
RUN_TIMEOUT_SECONDS = 180.0

Row = dict[str, str]  # one CSV row as text; "" is a missing value


# -- data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    columns: tuple[str, ...]
    rows: list[Row]

    def write(self, path: Path, rows: Sequence[Row] | None = None) -> Path:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows if rows is None else rows)
        return path

    def split(self, keep_aside: int, seed: int) -> tuple[list[Row], list[Row]]:
        """(rows to upload, rows never uploaded) by a seeded draw."""
        picked = set(
            np.random.default_rng(seed).choice(len(self.rows), keep_aside, replace=False).tolist()
        )
        uploaded = [row for i, row in enumerate(self.rows) if i not in picked]
        aside = [row for i, row in enumerate(self.rows) if i in picked]
        return uploaded, aside


def housing(rows: int, seed: int, *, new_city: str | None = None) -> DataSet:
    """A deterministic regression data set: numeric and categorical columns, gaps, noise.

    `new_city` adds a sixth city value (about 15 % of the rows, with its own price
    level): the same columns, but one more category, so its feature contract differs.
    """
    rng = np.random.default_rng(seed)
    cities = CITIES + ((new_city,) if new_city else ())
    weights = np.asarray(CITY_WEIGHTS + ((0.15 / 0.85,) if new_city else ()))
    city_level = dict(zip(cities, (40.0, 10.0, 25.0, -15.0, 0.0, 90.0), strict=False))
    style_level = dict(zip(STYLES, (0.0, 15.0, 35.0, 60.0), strict=True))
    sqft = rng.uniform(450, 4200, rows)
    rooms = np.clip(np.round(sqft / 600 + rng.normal(0, 1, rows)), 1, 9)
    age = rng.integers(0, 120, rows).astype(float)
    distance = rng.gamma(2.0, 4.0, rows)
    city = rng.choice(cities, rows, p=weights / weights.sum())
    zone = rng.choice(ZONES, rows)
    style = rng.choice(STYLES, rows)
    price = (
        60
        + 0.09 * sqft
        + 9 * rooms
        - 0.6 * age
        + 0.002 * (age - 60) ** 2
        - 40 * np.log1p(distance)
        + np.asarray([city_level[c] for c in city])
        + np.asarray([style_level[s] for s in style])
        + 7 * zone.astype(float)
        + rng.normal(0, 12, rows)
    )
    out: list[Row] = []
    for i in range(rows):
        row = {
            "listing": f"L{seed:03d}-{i:05d}",
            "sqft": f"{sqft[i]:.1f}",
            "rooms": str(int(rooms[i])),
            "city": str(city[i]),
            "age": str(int(age[i])),
            TARGET: f"{price[i]:.2f}",
            "zone": str(zone[i]),
            "distance": f"{distance[i]:.3f}",
            "style": str(style[i]),
        }
        # Gaps: empty fields, and "NA" (numeric columns read it as missing).
        for name, share in (("sqft", 0.05), ("age", 0.04), ("city", 0.04), ("style", 0.03)):
            if rng.random() < share:
                row[name] = ""
        if rng.random() < 0.03:
            row["distance"] = "NA"
        out.append(row)
    return DataSet(COLUMNS, out)


def instance(row: Row, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A prediction request record for `row`, typed as GET /models/<m> describes columns."""
    record: dict[str, Any] = {}
    for column in columns:
        text = row[column["name"]]
        if column["type"] == "number":
            record[column["name"]] = None if text in ("", "NA") else float(text)
        else:
            record[column["name"]] = text or None
    return record


def labels(rows: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray([float(row[TARGET]) for row in rows])


def rmse(predicted: Sequence[float] | np.ndarray[Any, Any], truth: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted, dtype=np.float64) - truth) ** 2)))


# -- references -------------------------------------------------------------------------


def pipeline_config(pipeline_json: Mapping[str, Any]) -> PipelineConfig:
    """The run's settings: the same pipeline.json over the template's default parameters."""
    return resolve_pipeline_config(json.dumps(pipeline_json).encode(), PipelineDefaults())


def prepare_locally(source: Path, model: str, config: PipelineConfig, out_dir: Path) -> PreparedRun:
    """The pipeline's preprocessing of `source`, with the template's default limits."""
    return preprocess_file(
        source,
        source_name=source.name,
        model=model,
        config=config,
        settings=PreprocessSettings(),
        out_dir=out_dir,
    )


def _libsvm_file(path: Path) -> xgb.DMatrix:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*Text file input has been deprecated")
        return xgb.DMatrix(f"{path}?format=libsvm")


def _libsvm_matrix(text: str, width: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Encoded request lines (placeholder label first) as a dense matrix, NaN = absent."""
    lines = text.splitlines()
    matrix = np.full((len(lines), width), np.nan)
    for row, line in enumerate(lines):
        for token in line.split()[1:]:
            index, _, value = token.partition(":")
            if int(index) >= width:
                raise ValueError(f"feature {index} is beyond the model's {width} features")
            matrix[row, int(index)] = float(value)
    return matrix


def xgboost_reference(
    prepared: PreparedRun, out_dir: Path, config: PipelineConfig, aside: Sequence[dict[str, Any]]
) -> list[float]:
    """Train xgboost locally on the run's channels with the run's hyperparameters, as the
    SageMaker container does (num_round rounds, early stopping on the validation channel,
    the best iteration kept), and predict the encoded records."""
    settings: dict[str, Any] = dict(hyperparameters(config, len(prepared.contract.features)))
    rounds = int(settings.pop("num_round"))
    early = settings.pop("early_stopping_rounds", None)
    params = {name: _number_or_text(value) for name, value in settings.items()}
    params["eval_metric"] = "rmse"  # the container's default for reg:squarederror
    train = _libsvm_file(out_dir / prepared.files["train"])
    validation = _libsvm_file(out_dir / prepared.files["validation"])
    booster = xgb.train(
        params,
        train,
        num_boost_round=rounds,
        evals=[(train, "train"), (validation, "validation")],
        early_stopping_rounds=None if early is None else int(early),
        verbose_eval=False,
    )
    encoded = RecordEncoder(prepared.contract).encode(list(aside)).body.decode()
    # A libsvm file is only as wide as its largest index, and so is the model trained on
    # it: the features after the last one seen in training are unknown to it.
    width = booster.num_features()
    features = xgb.DMatrix(_libsvm_matrix(encoded, width), missing=np.nan)
    best = int(booster.best_iteration) + 1 if early is not None else rounds
    return [float(p) for p in booster.predict(features, iteration_range=(0, best))]


def linear_reference(
    prepared: PreparedRun, out_dir: Path, aside: Sequence[dict[str, Any]]
) -> list[float]:
    """Ordinary least squares with an intercept on the dense CSV train channel."""
    train = np.loadtxt(out_dir / prepared.files["train"], delimiter=",", ndmin=2)
    design = np.column_stack([np.ones(len(train)), train[:, 1:]])
    coefficients = np.linalg.lstsq(design, train[:, 0], rcond=None)[0]
    encoded = RecordEncoder(prepared.contract).encode(list(aside)).body.decode()
    features = np.loadtxt(encoded.splitlines(), delimiter=",", ndmin=2)
    return [float(p) for p in np.column_stack([np.ones(len(features)), features]) @ coefficients]


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


# -- the stack, as a user sees it -------------------------------------------------------


@dataclass
class User:
    """One client of the stack: S3 and Step Functions through boto3, the API over HTTP."""

    stack: LocalStack
    s3: Any = field(init=False)
    sfn: Any = field(init=False)

    def __post_init__(self) -> None:
        self.s3 = self.stack.client("s3")
        self.sfn = self.stack.client("stepfunctions")

    @property
    def bucket(self) -> str:
        return self.stack.bucket

    def put_settings(self, model: str, settings: Mapping[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=f"incoming/{model}/pipeline.json",
            Body=json.dumps(settings).encode(),
        )

    def start(self, model: str, path: Path, name: str | None = None) -> Started:
        """Upload `path` as incoming/<model>/<name> and find the run it started."""
        key = f"incoming/{model}/{name or path.name}"
        version = upload(self.s3, self.bucket, key, path)
        arn = find_execution(self.sfn, self.stack.state_machine_arn, key, version)
        return Started(key=key, version_id=version, execution_arn=arn)

    def finish(self, started: Started) -> RunResult:
        return wait_for_execution(self.sfn, started.execution_arn, timeout=RUN_TIMEOUT_SECONDS)

    def run(self, model: str, path: Path, name: str | None = None) -> RunResult:
        return self.finish(self.start(model, path, name))

    def describe(self, model: str) -> HttpAnswer:
        return http_json(f"{self.stack.api_url}/models/{model}")

    def predict(self, model: str, instances: Sequence[dict[str, Any]]) -> HttpAnswer:
        return http_json(f"{self.stack.api_url}/predict/{model}", {"instances": list(instances)})

    def executions_for(self, key: str) -> list[str]:
        """Every execution whose input names this S3 key."""
        found = []
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.stack.state_machine_arn
        )
        for page in pages:
            for execution in page["executions"]:
                described = self.sfn.describe_execution(executionArn=execution["executionArn"])
                if json.loads(described["input"])["run"]["key"] == key:
                    found.append(execution["executionArn"])
        return found


@dataclass(frozen=True)
class Started:
    key: str
    version_id: str | None
    execution_arn: str


@dataclass(frozen=True)
class Answer:
    status: int
    version: str | None
    predictions: tuple[float, ...]
    message: str | None


class PredictingClient(threading.Thread):
    """Posts the same records again and again until stopped (or `limit` requests)."""

    def __init__(self, user: User, model: str, records: Sequence[dict[str, Any]], limit: int):
        super().__init__(name=f"predicting-client-{model}", daemon=True)
        self._user = user
        self._model = model
        self._records = list(records)
        self._limit = limit
        self._stopping = threading.Event()
        self.answers: list[Answer] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self._stopping.is_set() and len(self.answers) < self._limit:
                answer = self._user.predict(self._model, self._records)
                body = answer.body
                model = body.get("model") if answer.status == 200 else None
                self.answers.append(
                    Answer(
                        status=answer.status,
                        version=model.get("version") if isinstance(model, dict) else None,
                        predictions=tuple(body.get("predictions", ())),
                        message=body.get("message"),
                    )
                )
                time.sleep(0.005)
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            self.failure = error

    def stop(self, timeout: float = 60.0) -> list[Answer]:
        self._stopping.set()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("the predicting client did not stop")
        if self.failure is not None:
            raise AssertionError(f"the predicting client crashed: {self.failure!r}")
        return self.answers
