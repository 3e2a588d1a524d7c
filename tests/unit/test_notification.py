"""Run summaries for deployed, rejected and failed runs."""

from __future__ import annotations

import json

import pytest

from sagepipe.notification import RunSummary, failure_cause, summarize

RUN_ID = "housing-20261120093000-1a2b3c4d"
METRICS = {"rmse": 1.23456, "mae": 1.0, "r2": 0.9, "rows": 10, "baseline_rmse": 3.0}


def _lambda_error(message: str) -> str:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": "InputDataError",
            "requestId": "5f1e0a4e-0000-0000-0000-000000000000",
            "stackTrace": ['  File "/var/task/app.py", line 33, in lambda_handler\n'],
        }
    )


def test_failure_cause_unwraps_a_lambda_error_payload() -> None:
    cause = _lambda_error("s3://b/incoming/housing/data.csv: row 7, column 'rooms': not a number")
    assert failure_cause("Preprocess", "InputDataError", cause) == (
        "Preprocess failed: s3://b/incoming/housing/data.csv: row 7, column 'rooms': not a number"
    )


def test_failure_cause_keeps_plain_text() -> None:
    assert failure_cause("CheckTraining", "States.Timeout", "task timed out") == (
        "CheckTraining failed: task timed out"
    )


@pytest.mark.parametrize("cause", [None, ""])
def test_failure_cause_falls_back_to_the_error_name(cause: str | None) -> None:
    assert failure_cause("Deploy", "DeploymentError", cause) == "Deploy failed: DeploymentError"


@pytest.mark.parametrize("cause", ['["a list"]', '{"message": "no errorMessage"}', "42"])
def test_failure_cause_keeps_json_that_is_not_a_lambda_error(cause: str) -> None:
    assert failure_cause("Evaluate", "Error", cause) == f"Evaluate failed: {cause}"


def test_failure_cause_is_bounded() -> None:
    cause = failure_cause("Preprocess", "InputDataError", _lambda_error("x" * 5000))
    assert len(cause) == 1000
    assert cause.startswith("Preprocess failed: xxx")


def test_deployed_summary() -> None:
    summary = summarize(
        "deployed",
        "housing",
        RUN_ID,
        metrics=METRICS,
        gate_reason="RMSE 1.235 beats the mean baseline 3",
        version="20261120093000-1a2b3c4d",
    )
    assert summary == RunSummary(
        outcome="deployed",
        model="housing",
        run_id=RUN_ID,
        subject="sagepipe housing: deployed",
        text=(
            f"Model housing, run {RUN_ID}: deployed version 20261120093000-1a2b3c4d. "
            "RMSE 1.235 (mean baseline 3). RMSE 1.235 beats the mean baseline 3"
        ),
        version="20261120093000-1a2b3c4d",
    )
    assert summary.error is None
    assert summary.cause is None


def test_rejected_summary() -> None:
    summary = summarize(
        "rejected",
        "housing",
        RUN_ID,
        metrics={**METRICS, "rmse": 3.5},
        gate_reason="RMSE 3.5 does not beat the mean baseline 3",
    )
    assert summary.subject == "sagepipe housing: not deployed"
    assert summary.text == (
        f"Model housing, run {RUN_ID}: not deployed, the live model is unchanged. "
        "RMSE 3.5 (mean baseline 3). RMSE 3.5 does not beat the mean baseline 3"
    )
    assert summary.error is None


def test_summary_without_metrics() -> None:
    summary = summarize("rejected", "housing", RUN_ID)
    assert "RMSE n/a." in summary.text
    assert not summary.text.endswith(" ")


def test_failed_summary_names_the_step_and_unwraps_the_cause() -> None:
    failure = {
        "step": "Preprocess",
        "error": "InputDataError",
        "cause": _lambda_error("data.csv: row 3, column 'price': empty target"),
    }
    summary = summarize("failed", "housing", RUN_ID, failure=failure)
    assert summary.subject == "sagepipe housing: run failed"
    assert summary.error == "InputDataError"
    assert summary.cause == "Preprocess failed: data.csv: row 3, column 'price': empty target"
    assert summary.text == (
        f"Model housing, run {RUN_ID}: FAILED, the live model is unchanged. "
        "Preprocess failed: data.csv: row 3, column 'price': empty target"
    )


def test_failed_summary_without_failure_details() -> None:
    summary = summarize("failed", "housing", RUN_ID)
    assert summary.error == "Error"
    assert summary.cause == "unknown step failed: Error"
