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
from dataclasses import dataclass
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
WARM_RUNS = 5  # and as many plain computes; the medians are compared


@dataclass(frozen=True)
class PlainCompute:
    """Seconds of each part of the compute, in one plain process."""

    preprocess: float
    train: float  # loading the channels and training
    predict: float  # loading the test features and predicting

    @property
    def total(self) -> float:
        return self.preprocess + self.train + self.predict


def plain_compute(source: Path, work: Path) -> PlainCompute:
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
    preprocessed = time.perf_counter()
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
    trained = time.perf_counter()
    test = xgboost.DMatrix(f"{work / prepared.files['test_features']}?format=libsvm")
    booster.predict(test, iteration_range=(0, booster.best_iteration + 1))
    return PlainCompute(
        preprocess=preprocessed - started,
        train=trained - preprocessed,
        predict=time.perf_counter() - trained,
    )


# Each part of an offline run, from the state that begins it to the state after it ends
# (Step Functions history), and the plain compute's part it stands beside.
PARTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("preprocess function", "Preprocess", "StartTraining", "preprocess"),
    ("training job (start + status)", "StartTraining", "TrainingDone", "train"),
    ("transform job (start + status)", "StartTransform", "TransformDone", "predict"),
    ("evaluate, deploy, endpoint update", "Evaluate", "RecordLive", None),
)


@dataclass(frozen=True)
class OfflineRun:
    seconds: float  # upload -> a prediction served by the version the upload trained
    entered: dict[str, float]  # state -> seconds after the upload it was first entered

    def part(self, first: str, after: str) -> float:
        return self.entered[after] - self.entered[first]

    @property
    def accounted(self) -> float:
        return self.entered["ChoosePreprocessing"] + sum(
            self.part(first, after) for _, first, after, _ in PARTS
        )


def offline_upload_to_serving(source: Path, record: dict[str, Any]) -> list[OfflineRun]:
    """The first run (every function's worker cold), then WARM_RUNS warm ones."""
    from sagepipe_local.runs import find_execution, http_json, upload, wait_for_execution
    from sagepipe_local.stack import LocalStack

    runs: list[OfflineRun] = []
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
            seconds = time.perf_counter() - started
            result = wait_for_execution(sfn, execution)
            if result.status != "SUCCEEDED":
                raise RuntimeError(f"offline run {result.status}: {result.cause}")
            history = sfn.get_execution_history(executionArn=execution, maxResults=1000)
            entered: dict[str, float] = {}
            for event in history["events"]:
                if "stateEnteredEventDetails" in event:
                    name = event["stateEnteredEventDetails"]["name"]
                    entered.setdefault(name, event["timestamp"].timestamp() - uploaded_at)
            runs.append(OfflineRun(seconds=seconds, entered=entered))
    return runs


def run(log: logging.Logger, row: Callable[..., str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "flights.csv"
        data = generate(ROWS, seed=11)
        data.to_csv(source, index=False, float_format="%.2f")
        record = json.loads(data.drop(columns=[TARGET]).head(1).to_json(orient="records"))[0]
        plain = [plain_compute(source, Path(work) / f"plain-{n}") for n in range(WARM_RUNS)]
        first, *warm = offline_upload_to_serving(source, record)
    compute = statistics.median(p.total for p in plain)
    log.info(
        "end to end offline: %d-row flight-delay CSV, XGBoost; PollSeconds=%d, "
        "emulated SageMaker status phases %.2f s (provisioning has no plain counterpart)",
        ROWS,
        POLL_SECONDS,
        PHASE_SECONDS,
    )
    log.info(
        row(
            "upload -> serving, warm (goal <= 2.0)",
            statistics.median(r.seconds for r in warm),
            compute,
            "s",
            "higher",
        )
    )
    log.info(row("upload -> serving, first run", first.seconds, compute, "s", "higher"))
    log.info(
        "  (ratio = offline time / plain compute time; medians of %d warm runs and %d plain "
        "computes)",
        WARM_RUNS,
        WARM_RUNS,
    )
    log.info("  where a warm run's time goes (medians), beside the plain process's parts:")
    _part(log, "upload -> run started", [r.entered["ChoosePreprocessing"] for r in warm], None)
    for label, first_state, after_state, plain_part in PARTS:
        offline = [r.part(first_state, after_state) for r in warm]
        plain_seconds = None if plain_part is None else [getattr(p, plain_part) for p in plain]
        _part(log, label, offline, plain_seconds)
    # Negative when the endpoint served the new model before RecordLive was entered.
    _part(log, "choice states, serving seen", [r.seconds - r.accounted for r in warm], None)


def _part(log: logging.Logger, label: str, offline: list[float], plain: list[float] | None) -> None:
    counterpart = "(none)" if plain is None else f"{statistics.median(plain):.3f} s"
    log.info("    %-34s %7.3f s   plain %s", label, statistics.median(offline), counterpart)
