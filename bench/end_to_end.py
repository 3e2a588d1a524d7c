"""Upload-to-serving time offline beside the same compute in one plain process.

Offline: the stack is already running (as a deployed stack would be); the clock starts
at the S3 upload and stops when a prediction over HTTP is answered by the model version
that upload trained. Plain compute: the same preprocessing, XGBoost training with the
same hyperparameters, channels and evaluation sets (train and validation, as the built-in
algorithm has), and the test-set prediction, in this process, with no orchestration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.flights import TARGET, generate
from bench.notifications import NotificationReceiver
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.preprocess import PreprocessSettings, preprocess_file
from sagepipe.training import hyperparameters

MODEL = "flights-e2e"
ROWS = 50_000
# The emulator's status phases stand for SageMaker provisioning instances and pulling
# images, which the plain process has no counterpart of: none here.
PHASE_SECONDS = 0.0
POLL_SECONDS = 1  # the template's minimum
SERVING_LOOK_SECONDS = 0.01  # after the notification, until the new version answers
RUN_TIMEOUT_SECONDS = 300.0
# After the first run (every function's worker cold), runs keep getting faster for a few
# more (lazily built caches in the workers): these are left out of the figures.
WARM_UP_RUNS = 2
# Each after a plain compute; the medians are compared. Eleven, not seven: on this VM
# two back-to-back runs of seven pairs gave 1.65x and 2.42x (the plain compute's median
# alone moved from 0.155 to 0.205 s).
WARM_RUNS = 11


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
        # The built-in algorithm scores the train set every round too (its log's
        # train-rmse); the last set listed is the one early stopping watches.
        evals=[(train, "train"), (validation, "validation")],
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


# What the jobs' descriptions tell of a run: phases, and how long after a job ended the
# status check saw it (the check's CPU during training shows in the training phase).
JOB_FIGURES: tuple[tuple[str, str | None], ...] = (
    ("training: downloading", None),
    ("training: training", "train"),
    ("training: uploading", None),
    ("training: seen done after", None),
    ("transform: the job", "predict"),
    ("transform: seen done after", None),
)


@dataclass(frozen=True)
class OfflineRun:
    seconds: float  # upload -> a prediction served by the version the upload trained
    entered: dict[str, float]  # state -> seconds after the upload it was first entered
    jobs: dict[str, float]  # JOB_FIGURES' labels -> seconds (DescribeTrainingJob & co.)

    def part(self, first: str, after: str) -> float:
        return self.entered[after] - self.entered[first]

    @property
    def accounted(self) -> float:
        return self.entered["ChoosePreprocessing"] + sum(
            self.part(first, after) for _, first, after, _ in PARTS
        )


class OfflineStack:
    """The offline stack, deployed once; `run` uploads the data set and times one run.

    The bench waits as a user subscribed to the notification topic does: no polling
    while the run works, then predictions until one is answered by the deployed version.
    """

    def __init__(self, source: Path, record: dict[str, Any]) -> None:
        from sagepipe_local.stack import LocalStack

        self._source = source
        self._record = record
        self._stack = LocalStack(
            port=0,
            api_port=0,
            parameter_overrides={"PollSeconds": str(POLL_SECONDS)},
            sagemaker_phase_seconds=PHASE_SECONDS,
        )
        self._notifications = NotificationReceiver()

    def __enter__(self) -> OfflineStack:
        with contextlib.ExitStack() as started:
            stack = started.enter_context(self._stack)
            started.enter_context(self._notifications)
            stack.client("sns").subscribe(
                TopicArn=stack.info.outputs["NotificationTopicArn"],
                Protocol="http",
                Endpoint=self._notifications.url,
            )
            self._s3, self._sfn = stack.client("s3"), stack.client("stepfunctions")
            self._sagemaker = stack.client("sagemaker")
            self._s3.put_object(
                Bucket=stack.bucket,
                Key=f"incoming/{MODEL}/pipeline.json",
                Body=json.dumps({"target": TARGET}).encode(),
            )
            self._running = started.pop_all()  # stopped by __exit__ from here on
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._running.close()

    def run(self) -> OfflineRun:
        from sagepipe_local.runs import find_execution, http_json, upload, wait_for_execution

        stack, s3, sfn = self._stack, self._s3, self._sfn
        key = f"incoming/{MODEL}/flights.csv"
        predict_url = f"{stack.api_url}/predict/{MODEL}"
        uploaded_at = time.time()
        started = time.perf_counter()
        version = upload(s3, stack.bucket, key, self._source)
        message = self._notifications.next_message(timeout=RUN_TIMEOUT_SECONDS)
        if message["outcome"] != "deployed":
            raise RuntimeError(f"offline run {message['outcome']}: {message['summary']}")
        while True:
            answer = http_json(predict_url, {"instances": [self._record]})
            if answer.status == 200 and answer.body["model"]["version"] == message["version"]:
                break
            time.sleep(SERVING_LOOK_SECONDS)
        seconds = time.perf_counter() - started
        execution = find_execution(sfn, stack.state_machine_arn, key, version)
        run = json.loads(sfn.describe_execution(executionArn=execution)["input"])["run"]
        if run["run_id"] != message["run_id"]:
            raise RuntimeError(f"notified run {message['run_id']} is not the upload's")
        result = wait_for_execution(sfn, execution)
        if result.status != "SUCCEEDED":
            raise RuntimeError(f"offline run {result.status}: {result.cause}")
        history = sfn.get_execution_history(executionArn=execution, maxResults=1000)
        entered: dict[str, float] = {}
        for event in history["events"]:
            if "stateEnteredEventDetails" in event:
                name = event["stateEnteredEventDetails"]["name"]
                entered.setdefault(name, event["timestamp"].timestamp() - uploaded_at)
        output = json.loads(sfn.describe_execution(executionArn=execution)["output"])
        jobs = self._job_figures(output, entered, uploaded_at)
        return OfflineRun(seconds=seconds, entered=entered, jobs=jobs)

    def _job_figures(
        self, output: dict[str, Any], entered: dict[str, float], uploaded_at: float
    ) -> dict[str, float]:
        training = self._sagemaker.describe_training_job(
            TrainingJobName=output["training"]["job_name"]
        )
        transform = self._sagemaker.describe_transform_job(
            TransformJobName=output["transform"]["job_name"]
        )
        phases = {
            step["Status"]: (step["EndTime"] - step["StartTime"]).total_seconds()
            for step in training["SecondaryStatusTransitions"]
            if "EndTime" in step
        }
        return {
            "training: downloading": phases["Downloading"],
            "training: training": phases["Training"],
            "training: uploading": phases["Uploading"],
            "training: seen done after": entered["TrainingDone"]
            - (training["TrainingEndTime"].timestamp() - uploaded_at),
            "transform: the job": (
                transform["TransformEndTime"] - transform["CreationTime"]
            ).total_seconds(),
            "transform: seen done after": entered["TransformDone"]
            - (transform["TransformEndTime"].timestamp() - uploaded_at),
        }


def run(log: logging.Logger, row: Callable[..., str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "flights.csv"
        data = generate(ROWS, seed=11)
        data.to_csv(source, index=False, float_format="%.2f")
        record = json.loads(data.drop(columns=[TARGET]).head(1).to_json(orient="records"))[0]
        plain: list[PlainCompute] = []
        warm: list[OfflineRun] = []
        # The plain compute runs in a process of its own, kept warm as the stack's workers
        # are (not in this one, whose heap and threads hold the whole stack), with the
        # allocator settings of the emulator's job containers.
        with (
            _plain_compute_process() as plain_process,
            OfflineStack(source, record) as offline,
        ):
            plain_process.apply(plain_compute, (source, Path(work) / "plain-warm-up"))
            first = offline.run()
            for _ in range(WARM_UP_RUNS):
                offline.run()
            # In pairs, so that both sides see the same state of a noisy machine.
            for n in range(WARM_RUNS):
                plain.append(
                    plain_process.apply(plain_compute, (source, Path(work) / f"plain-{n}"))
                )
                warm.append(offline.run())
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
    pair_ratios = sorted(r.seconds / p.total for r, p in zip(warm, plain, strict=True))
    log.info(
        "  each warm run over the plain compute right before it: %.2fx to %.2fx (median %.2fx)",
        pair_ratios[0],
        pair_ratios[-1],
        statistics.median(pair_ratios),
    )
    log.info(
        "  (ratio = offline time / plain compute time; medians of %d warm runs, each after "
        "one of %d plain computes, following %d warm-up runs)",
        WARM_RUNS,
        WARM_RUNS,
        WARM_UP_RUNS,
    )
    log.info("  where a warm run's time goes (medians), beside the plain process's parts:")
    _part(log, "upload -> run started", [r.entered["ChoosePreprocessing"] for r in warm])
    for label, first_state, after_state, plain_part in PARTS:
        offline_seconds = [r.part(first_state, after_state) for r in warm]
        _part(log, label, offline_seconds, plain, plain_part)
    # Negative when the endpoint served the new model before RecordLive was entered.
    _part(log, "choice states, serving seen", [r.seconds - r.accounted for r in warm])
    log.info("  inside the jobs (DescribeTrainingJob, DescribeTransformJob; medians):")
    for label, plain_part in JOB_FIGURES:
        _part(log, label, [r.jobs[label] for r in warm], plain, plain_part)


@contextlib.contextmanager
def _plain_compute_process() -> Iterator[Any]:
    from sagepipe_local.processes import ALLOCATOR_ENVIRONMENT

    saved = {name: os.environ.get(name) for name in ALLOCATOR_ENVIRONMENT}
    os.environ.update(ALLOCATOR_ENVIRONMENT)  # read by the spawned process as it starts
    try:
        pool = multiprocessing.get_context("spawn").Pool(1)
        pool.apply(os.getpid)  # started: the settings are in
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with pool:
        yield pool


def _part(
    log: logging.Logger,
    label: str,
    offline: list[float],
    plain: list[PlainCompute] | None = None,
    plain_part: str | None = None,
) -> None:
    """One line: the offline median, beside the median of the plain compute's
    `plain_part` (a PlainCompute field) if it has one."""
    counterpart = "(none)"
    if plain is not None and plain_part is not None:
        counterpart = f"{statistics.median(getattr(p, plain_part) for p in plain):.3f} s"
    log.info("    %-34s %7.3f s   plain %s", label, statistics.median(offline), counterpart)
