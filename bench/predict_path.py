"""The prediction function's own work beside the common pandas approach.

Both sides parse the same API Gateway request, encode the records with the same
training contract into the endpoint's request body, "call" the same instant fake
endpoint and decode its answer. Ours runs the real handler (functions/predict/app.py);
the baseline is DataFrame(records) -> get_dummies -> reindex -> to_csv.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from bench.flights import TARGET, generate
from sagepipe.contract import OTHER_CATEGORY, FeatureContract
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.prediction_service import PredictionService
from sagepipe.preprocess import PreprocessSettings, preprocess_file
from sagepipe.registry import LivePointer, ModelRegistry, ModelVersion

MODEL = "flights"
VERSION = "20261123000000-abcdef12"
REPO = Path(__file__).resolve().parents[1]


class InstantEndpoint:
    """Answers every InvokeEndpoint at once, one score per request line, as XGBoost does."""

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        rows = request["Body"].count(b"\n") + (0 if request["Body"].endswith(b"\n") else 1)
        if request.get("Accept") == "application/json":
            body = json.dumps({"predictions": [{"score": 1.5}] * rows}).encode()
        else:
            body = b"1.5\n" * rows
        return {
            "Body": io.BytesIO(body),
            "ContentType": request.get("Accept", "text/csv"),
            "InvokedProductionVariant": request.get("TargetVariant", f"v{VERSION}"),
        }


class MemoryS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803
        self.objects[Key] = Body

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        return {"Body": io.BytesIO(self.objects[Key])}


def training_contract(rows: int = 20_000) -> tuple[FeatureContract, pd.DataFrame]:
    frame = generate(rows, seed=7)
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "flights.csv"
        frame.to_csv(source, index=False)
        prepared = preprocess_file(
            source,
            source_name=str(source),
            model=MODEL,
            config=PipelineConfig(target=TARGET),
            settings=PreprocessSettings(),
            out_dir=Path(work) / "out",
        )
    return prepared.contract, frame


def request_records(
    contract: FeatureContract, frame: pd.DataFrame, count: int
) -> list[dict[str, Any]]:
    columns = list(contract.column_names)
    sample = frame[columns].head(count).astype(object)
    records: list[dict[str, Any]] = [
        {str(name): value for name, value in record.items()}
        for record in sample.where(sample.notna(), None).to_dict("records")
    ]
    return records


def load_handler(contract: FeatureContract) -> ModuleType:
    os.environ.setdefault("DATA_BUCKET", "bench")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    spec = importlib.util.spec_from_file_location(
        "predict_app", REPO / "functions" / "predict" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    s3 = MemoryS3()
    registry = ModelRegistry(s3, "bench")  # type: ignore[arg-type]
    registry.put_version(
        ModelVersion(
            model=MODEL, version=VERSION, run_id=f"{MODEL}-{VERSION}", trained_at="2026-11-23",
            algorithm="xgboost", metrics={"rmse": 1.0}, contract=contract,
            model_data="s3://bench/model.tar.gz", sagemaker_model="m", variant=f"v{VERSION}",
        )
    )  # fmt: skip
    registry.put_live(LivePointer(MODEL, VERSION, "sagepipe-flights", f"v{VERSION}", "now"))
    service = PredictionService(
        registry,
        InstantEndpoint(),  # type: ignore[arg-type]
        lambda: None,  # type: ignore[arg-type, return-value]
        max_records=10_000,
        live_cache_seconds=3600,
    )
    setattr(module, "service", lambda: service)  # noqa: B010 - replaces the factory
    return module


class Context:
    function_name = "predict"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = "bench"


def api_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (REPO / "tests" / "events" / "apigw_predict.json").read_text()
    )
    event["pathParameters"] = {"model": MODEL}
    event["path"] = f"/predict/{MODEL}"
    event["body"] = json.dumps({"instances": records})
    return event


def pandas_approach(contract: FeatureContract) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The common recipe: DataFrame, get_dummies, reindex to the training columns."""
    categorical = [c.name for c in contract.columns if c.kind == "categorical"]
    known = {c.name: set(c.categories) for c in contract.columns if c.kind == "categorical"}
    training_columns = [f.replace("=", "_", 1) for f in contract.features]
    endpoint = InstantEndpoint()

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        records = json.loads(event["body"])["instances"]
        frame = pd.DataFrame.from_records(records)
        for column in categorical:
            frame[column] = frame[column].where(frame[column].isin(known[column]), OTHER_CATEGORY)
        encoded = pd.get_dummies(frame, columns=categorical, prefix_sep="_", dtype=int)
        encoded = encoded.reindex(columns=training_columns, fill_value=0)
        payload = encoded.to_csv(header=False, index=False).encode()
        answer = endpoint.invoke_endpoint(Body=payload, ContentType="text/csv", Accept="text/csv")
        scores = [float(token) for token in answer["Body"].read().split()]
        return {"statusCode": 200, "body": json.dumps({"predictions": scores})}

    return handle


def per_call_seconds(call: Callable[[], Any], repeats: int) -> float:
    """Median over `repeats` calls; stdout (Powertools' EMF metrics) is discarded."""
    times = []
    with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
        for _ in range(repeats + 3):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    return statistics.median(times[3:])


def fresh_interpreter_seconds(
    statement: str,
    paths: list[Path],
    *,
    runs: int,
    env: dict[str, str] | None = None,
    isolated: bool = False,
) -> float:
    """Median time of `statement` in fresh interpreters with `paths` first on sys.path.

    Normally bytecode caches are warmed by a first run. `isolated` runs the way Lambda
    does: no site-packages (-S) and no bytecode written, so modules without shipped
    bytecode are compiled from source every time.
    """
    import subprocess

    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environ.update(DATA_BUCKET="bench", AWS_DEFAULT_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")  # fmt: skip
    environ.update(env or {})
    command = [sys.executable]
    if isolated:
        environ["PYTHONDONTWRITEBYTECODE"] = "1"
        command.append("-S")
    code = (
        "import sys, time\n"
        f"sys.path[:0] = {[str(path) for path in paths]!r}\n"
        "started = time.perf_counter()\n"
        f"{statement}\n"
        "sys.stdout.write(repr(time.perf_counter() - started))\n"
    )
    command += ["-c", code]
    samples = [
        float(subprocess.run(command, env=environ, check=True, capture_output=True).stdout)
        for _ in range(runs + 1)
    ]
    return statistics.median(samples[1:])  # the first run warms the caches


def built_package(build_dir: Path) -> list[Path] | None:
    """The predict function and its layer as `sam build` wrote them, if it has run."""
    paths = [build_dir / "PredictFunction", build_dir / "SagepipeLayer" / "python"]
    return paths if all(path.is_dir() for path in paths) else None


def run(log: logging.Logger, row: Callable[..., str]) -> None:
    contract, frame = training_contract()
    handler = load_handler(contract)
    baseline = pandas_approach(contract)
    context = Context()
    log.info(
        "prediction path: flights contract, %d input columns -> %d features; "
        "median per request, instant fake endpoint",
        len(contract.columns),
        len(contract.features),
    )
    for count, repeats, goal in ((1, 2000, 20), (1000, 60, 5)):
        event = api_event(request_records(contract, frame, count))
        with Path(os.devnull).open("w") as sink, contextlib.redirect_stdout(sink):
            answer = handler.lambda_handler(event, context)
        assert answer["statusCode"] == 200, answer
        assert len(json.loads(answer["body"])["predictions"]) == count
        ours = per_call_seconds(functools.partial(handler.lambda_handler, event, context), repeats)
        theirs = per_call_seconds(functools.partial(baseline, event), repeats)
        log.info(
            row(f"{count} record(s) (goal >= {goal}x)", ours * 1e3, theirs * 1e3, "ms", "lower")
        )
    source = [REPO / "functions" / "predict"]
    predict_import = fresh_interpreter_seconds("import app", source, runs=7)
    pandas_import = fresh_interpreter_seconds("import pandas", source, runs=7)
    log.info(
        row(
            "import predict module (goal >= 5x)",
            predict_import * 1e3,
            pandas_import * 1e3,
            "ms",
            "lower",
        )
    )
    log.info(
        "  (first request incl. boto3 import and client creation: %.0f ms; "
        "pandas would add its %.0f ms on top of that)",
        fresh_interpreter_seconds("import app\napp.service()", source, runs=5) * 1e3,
        pandas_import * 1e3,
    )
    deployed = built_package(REPO / ".aws-sam" / "build")
    if deployed is None:
        log.info("  (no sam build output: run `make sam-build` to time the deployed package)")
        return
    log.info(
        "  as deployed (sam build output, no site-packages, nothing compiled at import): "
        "import %.0f ms, first request %.0f ms",
        fresh_interpreter_seconds("import app", deployed, runs=5, isolated=True) * 1e3,
        fresh_interpreter_seconds("import app\napp.service()", deployed, runs=5, isolated=True)
        * 1e3,
    )
