"""End to end through the offline stack, used only as a user would use the product.

Uploads go to S3, runs are followed through the Step Functions API and predictions come
over HTTP from the local API Gateway. One stack serves the whole module; the model
`houses` (XGBoost) and `houses-linear` (Linear Learner) are trained once and shared.
Tests that change `houses` compare with whatever version is live when they start, so
they do not depend on each other's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_helpers import (
    CATEGORICAL,
    IDENTIFIER,
    NUMERIC,
    TARGET,
    Answer,
    DataSet,
    PredictingClient,
    Row,
    Started,
    User,
    housing,
    instance,
    labels,
    linear_reference,
    pipeline_config,
    prepare_locally,
    rmse,
    xgboost_reference,
)

from sagepipe_local.runs import RunResult
from sagepipe_local.stack import LocalStack

pytestmark = pytest.mark.offline

XGB_MODEL = "houses"
LINEAR_MODEL = "houses-linear"
ROWS = 2600
KEPT_ASIDE = 120
XGB_SETTINGS: dict[str, Any] = {
    "target": TARGET,
    "categorical_columns": ["zone"],
    # Fewer rounds than the default 200 (early stopping ends sooner anyway); every other
    # hyperparameter is the pipeline's default, on both sides of the comparison.
    "hyperparameters": {"num_round": 60},
}
LINEAR_SETTINGS: dict[str, Any] = {
    "target": TARGET,
    "algorithm": "linear-learner",
    "categorical_columns": ["zone"],
}
# HTTP predictions against the local reference: the same model, so near-identical.
RMSE_TOLERANCE = 0.03
EXPECTED_METRICS = {"rmse", "mae", "r2", "rows", "baseline_rmse"}
# Client requests during the second run: enough to span it, bounded if it hangs.
MAX_CLIENT_REQUESTS = 4000


@dataclass(frozen=True)
class TrainedModel:
    model: str
    data: DataSet
    uploaded: list[Row]
    aside: list[Row]
    path: Path  # the uploaded file
    started: Started
    result: RunResult


@dataclass(frozen=True)
class FirstRuns:
    xgboost: TrainedModel
    linear: TrainedModel


@pytest.fixture(scope="module")
def user(local_stack: LocalStack) -> User:
    return User(local_stack)


@pytest.fixture(scope="module")
def first_runs(user: User, tmp_path_factory: pytest.TempPathFactory) -> FirstRuns:
    """Both models trained from their first upload; the two runs go side by side."""
    work = tmp_path_factory.mktemp("first-runs")
    data = housing(ROWS, seed=7)
    uploaded, aside = data.split(KEPT_ASIDE, seed=3)
    path = data.write(work / "houses.csv", uploaded)
    user.put_settings(XGB_MODEL, XGB_SETTINGS)
    user.put_settings(LINEAR_MODEL, LINEAR_SETTINGS)
    started = {model: user.start(model, path) for model in (XGB_MODEL, LINEAR_MODEL)}
    trained = {}
    for model, run in started.items():
        result = user.finish(run)
        assert result.status == "SUCCEEDED", f"{model}: {result.error}: {result.cause}"
        assert result.states[-1] == "Deployed", result.states
        trained[model] = TrainedModel(model, data, uploaded, aside, path, run, result)
    return FirstRuns(xgboost=trained[XGB_MODEL], linear=trained[LINEAR_MODEL])


def described_columns(user: User, model: str) -> list[dict[str, Any]]:
    answer = user.describe(model)
    assert answer.status == 200, answer.body
    columns: list[dict[str, Any]] = answer.body["input"]["columns"]
    return columns


def records_for(user: User, model: str, rows: list[Row]) -> list[dict[str, Any]]:
    """Request records for CSV rows, typed as GET /models/<model> describes the input."""
    columns = described_columns(user, model)
    return [instance(row, columns) for row in rows]


def live_version(user: User, model: str) -> str:
    answer = user.describe(model)
    assert answer.status == 200, answer.body
    version: str = answer.body["version"]
    return version


def run_input(result: RunResult) -> dict[str, Any]:
    run: dict[str, Any] = result.output["run"]
    return run


# -- a model trained end to end serves what local training predicts ----------------------


def test_xgboost_predictions_over_http_match_local_xgboost(
    user: User, first_runs: FirstRuns, tmp_path: Path
) -> None:
    trained = first_runs.xgboost
    records = records_for(user, XGB_MODEL, trained.aside)
    answer = user.predict(XGB_MODEL, records)
    assert answer.status == 200, answer.body
    assert answer.body["model"] == {
        "name": XGB_MODEL,
        "version": run_input(trained.result)["version"],
    }

    config = pipeline_config(XGB_SETTINGS)
    prepared = prepare_locally(trained.path, XGB_MODEL, config, tmp_path)
    reference = xgboost_reference(prepared, tmp_path, config, records)
    truth = labels(trained.aside)
    served, local = rmse(answer.body["predictions"], truth), rmse(reference, truth)
    assert served == pytest.approx(local, rel=RMSE_TOLERANCE)
    assert served < 0.25 * float(np.std(truth))  # it learned something
    # Not just the same error on average: the same answers, row by row.
    difference = np.abs(np.asarray(answer.body["predictions"]) - np.asarray(reference))
    assert float(np.median(difference)) < 0.01 * float(np.std(truth))


def test_linear_learner_predictions_over_http_match_least_squares(
    user: User, first_runs: FirstRuns, tmp_path: Path
) -> None:
    trained = first_runs.linear
    records = records_for(user, LINEAR_MODEL, trained.aside)
    answer = user.predict(LINEAR_MODEL, records)
    assert answer.status == 200, answer.body
    assert answer.body["model"]["version"] == run_input(trained.result)["version"]

    config = pipeline_config(LINEAR_SETTINGS)
    prepared = prepare_locally(trained.path, LINEAR_MODEL, config, tmp_path)
    reference = linear_reference(prepared, tmp_path, records)
    truth = labels(trained.aside)
    assert rmse(answer.body["predictions"], truth) == pytest.approx(
        rmse(reference, truth), rel=RMSE_TOLERANCE
    )
    # The emulator fits exactly: the same coefficients, so the same answers.
    np.testing.assert_allclose(
        answer.body["predictions"], reference, rtol=0, atol=1e-3 * float(np.std(truth))
    )


def test_describe_tells_version_run_training_date_metrics_and_input(
    user: User, first_runs: FirstRuns, local_stack: LocalStack
) -> None:
    answer = user.describe(XGB_MODEL)
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["model"] == XGB_MODEL
    # The run that trained the live version (the first one, unless a test replaced it).
    execution_arn = local_stack.state_machine_arn.replace(":stateMachine:", ":execution:")
    described = user.sfn.describe_execution(executionArn=f"{execution_arn}:{body['run_id']}")
    output = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"
    assert output["run"]["model"] == XGB_MODEL
    assert body["version"] == output["run"]["version"]
    assert body["algorithm"] == "xgboost"
    trained_at = datetime.fromisoformat(body["trained_at"])
    assert trained_at.tzinfo is not None
    assert described["startDate"] <= trained_at <= described["stopDate"]
    assert set(body["metrics"]) >= EXPECTED_METRICS
    assert body["metrics"] == pytest.approx(output["evaluation"]["metrics"])
    assert body["metrics"]["rmse"] < body["metrics"]["baseline_rmse"]
    assert body["target"] == TARGET

    columns = body["input"]["columns"]
    # Every column of the file but the target and the identifier, in file order.
    expected = [c for c in first_runs.xgboost.data.columns if c not in (TARGET, IDENTIFIER)]
    assert [c["name"] for c in columns] == expected
    kinds = {c["name"]: c["type"] for c in columns}
    assert {kinds[name] for name in NUMERIC} == {"number"}
    assert {kinds[name] for name in CATEGORICAL} == {"category"}
    categories = {c["name"]: set(c.get("categories", ())) for c in columns}
    assert categories["zone"] == {"1", "2", "3", "4", "5", "6"}  # codes, as declared
    assert body["input"]["ignored_columns"] == [IDENTIFIER]


@pytest.mark.parametrize("model", [XGB_MODEL, LINEAR_MODEL])
@pytest.mark.parametrize("column", [*CATEGORICAL, None], ids=[*CATEGORICAL, "nulls"])
def test_unseen_categories_and_nulls_are_answered(
    user: User, first_runs: FirstRuns, model: str, column: str | None
) -> None:
    """A value outside a column's categories is that column's "other" value and null is
    unknown (GET /models says so): the request is answered, not refused."""
    columns = described_columns(user, model)
    base = instance(first_runs.xgboost.aside[0], columns)
    records: list[dict[str, Any]]
    if column is None:
        records = [dict.fromkeys(base)]
    else:
        records = [{**base, column: "never-seen-before"}]
        if column == "zone":
            records.append({**base, column: 99})  # a JSON integer in a column of codes
    answer = user.predict(model, [base, *records])
    assert answer.status == 200, answer.body
    assert len(answer.body["predictions"]) == 1 + len(records)


def test_each_upload_starts_exactly_one_run_even_when_its_event_comes_twice(
    user: User, first_runs: FirstRuns, local_stack: LocalStack
) -> None:
    trained = first_runs.xgboost
    assert user.executions_for(trained.started.key) == [trained.started.execution_arn]
    assert user.executions_for(f"incoming/{XGB_MODEL}/pipeline.json") == []

    # S3 delivers at least once: the same event again (same object version, same time;
    # the run's version starts with the event time to the second).
    run = run_input(trained.result)
    stamp = datetime.strptime(run["version"][:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": local_stack.info.region,
                "eventTime": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": run["bucket"], "arn": f"arn:aws:s3:::{run['bucket']}"},
                    "object": {
                        "key": run["key"],
                        "size": run["size"],
                        "versionId": run["version_id"],
                    },
                },
            }
        ]
    }
    response = local_stack.client("lambda").invoke(
        FunctionName=local_stack.info.functions["StartRunFunction"],
        Payload=json.dumps(event).encode(),
    )
    assert "FunctionError" not in response, response["Payload"].read()
    payload = json.loads(response["Payload"].read())
    assert payload["runs"] == [{"run_id": run["run_id"], "status": "already-started"}]
    assert user.executions_for(trained.started.key) == [trained.started.execution_arn]


# -- failures leave the live model alone -------------------------------------------------


@dataclass(frozen=True)
class BadUpload:
    name: str
    content: bytes
    error: str
    reasons: tuple[str, ...]  # texts the run's cause must contain


def _bad_uploads() -> list[BadUpload]:
    good = housing(60, seed=11)

    def csv_text(columns: tuple[str, ...], rows: list[Row]) -> bytes:
        lines = [",".join(columns)] + [",".join(row[c] for c in columns) for row in rows]
        return ("\n".join(lines) + "\n").encode()

    no_target = tuple(c for c in good.columns if c != TARGET)
    rows = [dict(row) for row in good.rows]
    rows[36][TARGET] = "call us"  # data row 37, line 38 of the file
    garbage = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(5).bytes(3000)
    return [
        BadUpload(
            "no-target.csv",
            csv_text(no_target, good.rows),
            "ConfigError",
            (f"column '{TARGET}' is not in", "no-target.csv", "its columns are 'listing'"),
        ),
        BadUpload("empty.csv", b"", "InputDataError", ("empty.csv is empty (0 bytes)",)),
        BadUpload(
            "text-target.csv",
            csv_text(good.columns, rows),
            "InputDataError",
            (
                "text-target.csv: target column 'price' must be numeric",
                "data row 37 (line 38) has 'call us'",
            ),
        ),
        BadUpload(
            "garbage.csv",
            garbage,
            "InputDataError",
            ("garbage.csv is not UTF-8 text: invalid byte 0x89 at byte offset 0 (line 1)",),
        ),
    ]


BAD_UPLOADS = _bad_uploads()


@dataclass(frozen=True)
class LiveAnswer:
    version: str
    predictions: list[float]


def live_answer(user: User, model: str, records: list[dict[str, Any]]) -> LiveAnswer:
    """GET /models and POST /predict both answer, from the same version."""
    version = live_version(user, model)
    answer = user.predict(model, records)
    assert answer.status == 200, answer.body
    assert answer.body["model"]["version"] == version
    return LiveAnswer(version, answer.body["predictions"])


@pytest.fixture(scope="module")
def bad_runs(
    user: User, first_runs: FirstRuns, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LiveAnswer, dict[str, tuple[Started, RunResult]], LiveAnswer]:
    """Every bad upload at once (each fails at its first step), with the live answers
    before and after."""
    work = tmp_path_factory.mktemp("bad-uploads")
    records = records_for(user, XGB_MODEL, first_runs.xgboost.aside[:5])
    before = live_answer(user, XGB_MODEL, records)
    started = {}
    for bad in BAD_UPLOADS:
        path = work / bad.name
        path.write_bytes(bad.content)
        started[bad.name] = user.start(XGB_MODEL, path)
    runs = {name: (run, user.finish(run)) for name, run in started.items()}
    return before, runs, live_answer(user, XGB_MODEL, records)


@pytest.mark.parametrize("bad", BAD_UPLOADS, ids=lambda bad: bad.name)
def test_bad_upload_fails_its_run_with_a_clear_cause(
    user: User,
    bad_runs: tuple[LiveAnswer, dict[str, tuple[Started, RunResult]], LiveAnswer],
    bad: BadUpload,
) -> None:
    before, runs, after = bad_runs
    started, result = runs[bad.name]
    assert result.status == "FAILED"
    assert result.error == bad.error
    assert result.cause is not None
    assert result.cause.startswith("preprocess failed: "), result.cause
    for reason in bad.reasons:
        assert reason in result.cause
    assert "Preprocess" in result.states
    assert "StartTraining" not in result.states
    assert result.states[-2:] == ["NotifyFailed", "RunFailed"]

    # The data is never changed or deleted: the version that failed is still there.
    stored = user.s3.get_object(Bucket=user.bucket, Key=started.key)
    assert stored["VersionId"] == started.version_id
    assert stored["Body"].read() == bad.content
    # The live model kept answering, from the same version with the same answers.
    assert after == before


def test_failing_training_job_reports_sagemaker_failure_reason(
    user: User, first_runs: FirstRuns, tmp_path: Path
) -> None:
    trained = first_runs.xgboost
    records = records_for(user, XGB_MODEL, trained.aside[:5])
    before = live_answer(user, XGB_MODEL, records)
    invalid = {**XGB_SETTINGS, "hyperparameters": {"num_round": 60, "max_depth": -3}}
    user.put_settings(XGB_MODEL, invalid)
    try:
        path = trained.data.write(tmp_path / "houses-deeper.csv", trained.uploaded)
        result = user.run(XGB_MODEL, path)
    finally:
        user.put_settings(XGB_MODEL, XGB_SETTINGS)
    assert result.status == "FAILED"
    assert result.error == "TrainingJobFailed"
    assert "TrainingJobFailed" in result.states
    assert "Deploy" not in result.states
    # The cause is the training job's FailureReason (SageMaker's words) after the step.
    run_id = result.execution_arn.rsplit(":", 1)[-1]  # the execution name is the run id
    job = user.stack.client("sagemaker").describe_training_job(TrainingJobName=f"{run_id}-tr")
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: ")
    assert "max_depth" in reason
    assert "-3" in reason
    assert result.cause == f"training failed: {reason}"
    assert live_answer(user, XGB_MODEL, records) == before


# -- a second upload replaces the live model while a client keeps predicting -------------

NEW_CITY = "riverton"


def test_second_upload_updates_the_live_model_under_load_consistently(
    user: User, first_runs: FirstRuns, tmp_path: Path
) -> None:
    """The second data set has the same columns plus one more city: a category the first
    contract does not know. Encoded with the first contract, that city is city=__other__
    and every feature after `city` sits one index lower than in the second contract, so
    a request encoded with one contract and answered by the other model gives a different
    number. A probe must be valid under both contracts, which is why the schemas differ
    by a category and not by a column: a column only one version knows is an unknown
    column (400) for the other, or a missing one (400).
    """
    v1_columns = described_columns(user, XGB_MODEL)
    city = next(c for c in v1_columns if c["name"] == "city")
    assert NEW_CITY not in city["categories"]
    second = housing(ROWS, seed=8, new_city=NEW_CITY)
    probe_rows = [r for r in second.rows if r["city"] == NEW_CITY][:2] + second.rows[:2]
    probe = [instance(row, v1_columns) for row in probe_rows]
    before = live_answer(user, XGB_MODEL, probe)

    client = PredictingClient(user, XGB_MODEL, probe, limit=MAX_CLIENT_REQUESTS)
    client.start()
    try:
        result = user.run(XGB_MODEL, second.write(tmp_path / "houses-2.csv"))
    finally:
        answers = client.stop()
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.states[-1] == "Deployed"
    new_version = run_input(result)["version"]
    after = live_answer(user, XGB_MODEL, probe)
    assert after.version == new_version != before.version

    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, first: {failed[0]}"
    versions = [a.version for a in answers]
    assert set(versions) == {before.version, new_version}, "the client saw both versions"
    switch = versions.index(new_version)
    assert versions == [before.version] * switch + [new_version] * (len(versions) - switch)
    # Same version, same model and same contract: the same answer for the same probe.
    assert _by_version(answers) == {
        before.version: {tuple(before.predictions)},
        new_version: {tuple(after.predictions)},
    }
    # ... and the two versions really answer the new city differently.
    assert before.predictions[0] != after.predictions[0]

    v2_city = next(c for c in described_columns(user, XGB_MODEL) if c["name"] == "city")
    assert NEW_CITY in v2_city["categories"]


def _by_version(answers: list[Answer]) -> dict[str | None, set[tuple[float, ...]]]:
    grouped: dict[str | None, set[tuple[float, ...]]] = {}
    for answer in answers:
        grouped.setdefault(answer.version, set()).add(answer.predictions)
    return grouped
