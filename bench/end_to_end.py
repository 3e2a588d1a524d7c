"""Upload-to-serving time offline beside the same compute in one plain process.

Offline: the stack is already running (as a deployed stack would be); the clock starts
at the S3 upload and stops when a prediction over HTTP is answered by the model version
that upload trained. Plain compute: the same preprocessing, XGBoost training with the
same hyperparameters and channels, and the test-set prediction, in this process, with no
orchestration.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.flights import TARGET, generate
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreprocessSettings, preprocess_file
from sagepipe.training import hyperparameters

MODEL = "flights-e2e"
ROWS = 50_000
# The emulator's status phases stand for SageMaker provisioning instances and pulling
# images, which the plain process has no counterpart of: none here.
PHASE_SECONDS = 0.0
POLL_SECONDS = 1  # the template's minimum
SERVING_LOOK_SECONDS = 0.05  # a prediction request every 50 ms until served
WARM_RUNS = 3  # and as many plain computes; the medians are compared


def plain_compute(source: Path, work: Path) -> float:
    import warnings

    import xgboost

    # XGBoost 3.1+ calls libsvm file input deprecated; the 1.7 container reads it.
    warnings.filterwarnings("ignore", category=UserWarning, module="xgboost")

    started = time.perf_counter()
    config = PipelineConfig(target=TARGET)
    prepared = preprocess_file(
        source,
        source_name=str(source),
        model=MODEL,
        config=config,
        settings=PreprocessSettings(),
        out_dir=work,
    )
    params: dict[str, object] = dict(hyperparameters(config, len(prepared.contract.features)))
    rounds = int(str(params.pop("num_round")))
    early = int(str(params.pop("early_stopping_rounds")))
    params["nthread"] = 2
    train = xgboost.DMatrix(f"{work / prepared.files['train']}?format=libsvm")
    validation = xgboost.DMatrix(f"{work / prepared.files['validation']}?format=libsvm")
    booster = xgboost.train(
        params,
        train,
        num_boost_round=rounds,
        evals=[(validation, "validation")],
        early_stopping_rounds=early,
        verbose_eval=False,
    )
    test = xgboost.DMatrix(f"{work / prepared.files['test_features']}?format=libsvm")
    booster.predict(test, iteration_range=(0, booster.best_iteration + 1))
    return time.perf_counter() - started


def offline_upload_to_serving(
    source: Path, record: dict[str, Any]
) -> tuple[float, float, list[tuple[str, float]]]:
    from sagepipe_local.runs import find_execution, http_json, upload, wait_for_execution
    from sagepipe_local.stack import LocalStack

    timings: list[float] = []
    steps: list[tuple[str, float]] = []  # state entered, seconds after the upload
    with LocalStack(
        port=0,
        api_port=0,
        parameter_overrides={"PollSeconds": str(POLL_SECONDS)},
        sagemaker_phase_seconds=PHASE_SECONDS,
    ) as stack:
        s3, sfn = stack.client("s3"), stack.client("stepfunctions")
        s3.put_object(
            Bucket=stack.bucket,
            Key=f"incoming/{MODEL}/pipeline.json",
            Body=json.dumps({"target": TARGET}).encode(),
        )
        key = f"incoming/{MODEL}/flights.csv"
        predict_url = f"{stack.api_url}/predict/{MODEL}"
        # The first run starts every function's worker (cold starts); the others are a
        # deployed stack's steady state. Both are reported.
        for _ in range(1 + WARM_RUNS):
            uploaded_at = time.time()
            started = time.perf_counter()
            version = upload(s3, stack.bucket, key, source)
            execution = find_execution(sfn, stack.state_machine_arn, key, version, interval=0.01)
            trained = json.loads(sfn.describe_execution(executionArn=execution)["input"])["run"]
            while True:
                answer = http_json(predict_url, {"instances": [record]})
                if answer.status == 200 and answer.body["model"]["version"] == trained["version"]:
                    break
                time.sleep(SERVING_LOOK_SECONDS)
            timings.append(time.perf_counter() - started)
            result = wait_for_execution(sfn, execution)
            if result.status != "SUCCEEDED":
                raise RuntimeError(f"offline run {result.status}: {result.cause}")
            history = sfn.get_execution_history(executionArn=execution, maxResults=1000)
            steps = [
                (event["stateEnteredEventDetails"]["name"], event["timestamp"].timestamp())
                for event in history["events"]
                if "stateEnteredEventDetails" in event
            ]
            steps = [(name, at - uploaded_at) for name, at in steps]
    return timings[0], statistics.median(timings[1:]), steps


def run(log: logging.Logger, row: Callable[..., str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "flights.csv"
        data = generate(ROWS, seed=11)
        data.to_csv(source, index=False, float_format="%.2f")
        record = json.loads(data.drop(columns=[TARGET]).head(1).to_json(orient="records"))[0]
        compute = statistics.median(
            plain_compute(source, Path(work) / f"plain-{attempt}") for attempt in range(WARM_RUNS)
        )
        cold, warm, steps = offline_upload_to_serving(source, record)
    log.info(
        "end to end offline: %d-row flight-delay CSV, XGBoost; PollSeconds=%d, "
        "emulated SageMaker status phases %.2f s (provisioning has no plain counterpart)",
        ROWS,
        POLL_SECONDS,
        PHASE_SECONDS,
    )
    log.info(row("upload -> serving, warm (goal <= 2.0)", warm, compute, "s", "higher"))
    log.info("  (medians of %d warm runs and %d plain computes)", WARM_RUNS, WARM_RUNS)
    log.info(row("upload -> serving, first run", cold, compute, "s", "higher"))
    log.info("  (ratio = offline time / plain compute time; last warm run's states, entered at:)")
    log.info("  %s", ", ".join(f"{name}@{at:.2f}s" for name, at in steps))
