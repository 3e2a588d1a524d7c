"""evaluate: transform output + held-out labels in S3 -> metrics.json and a deploy decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepipe.errors import InputDataError

from .conftest import BUCKET, RUN_ROOT, FakeLambdaContext, HandlerLoader, load_event

OUTPUT_KEY = f"{RUN_ROOT}transform/features.csv.out"
LABELS_KEY = f"{RUN_ROOT}data/test/labels.csv"
METRICS_KEY = f"{RUN_ROOT}metrics.json"


@pytest.fixture
def handler(load_handler: HandlerLoader) -> Any:
    return load_handler("evaluate")


def _put(s3: Any, predictions: str, labels: str = "1\n5\n5\n9\n") -> None:
    s3.put_object(Bucket=BUCKET, Key=OUTPUT_KEY, Body=predictions.encode())
    s3.put_object(Bucket=BUCKET, Key=LABELS_KEY, Body=labels.encode())


def _metrics_file(s3: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        s3.get_object(Bucket=BUCKET, Key=METRICS_KEY)["Body"].read()
    )
    return loaded


def _keys(s3: Any) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_metrics_written_and_model_deployable(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # predictions 2,4,6,8 vs labels 1,5,5,9; training mean 4 (sfn_evaluate.json):
    # RMSE 1, MAE 1, R2 1 - 4/32 = 0.875, baseline sqrt(36/4) = 3.
    _put(s3, "2.0\n4.0\n6.0\n8.0\n")

    result = handler.lambda_handler(load_event("sfn_evaluate.json"), lambda_context)

    assert result["metrics"] == pytest.approx(
        {"rmse": 1.0, "mae": 1.0, "r2": 0.875, "rows": 4, "baseline_rmse": 3.0}
    )
    assert result["deploy"] is True
    assert result["reason"] == "RMSE 1 beats the mean baseline 3"
    assert result["metrics_uri"] == f"s3://{BUCKET}/{METRICS_KEY}"
    assert _metrics_file(s3) == pytest.approx(
        {
            "rmse": 1.0,
            "mae": 1.0,
            "r2": 0.875,
            "rows": 4,
            "baseline_rmse": 3.0,
            "deploy": True,
            "reason": "RMSE 1 beats the mean baseline 3",
        }
    )
    # The EMF blob Powertools prints carries the metrics.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    published = {
        m["Name"] for blob in emf for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"RMSE", "MAE", "R2", "BASELINE_RMSE", "Deployable"} <= published


def test_model_above_max_rmse_is_not_deployed(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "2\n4\n6\n8\n")
    event = load_event("sfn_evaluate.json")
    event["prepared"]["config"]["max_rmse"] = 0.5

    result = handler.lambda_handler(event, lambda_context)

    assert result["deploy"] is False
    assert result["reason"] == "RMSE 1 is above max_rmse 0.5"
    assert _metrics_file(s3)["deploy"] is False


def test_model_that_does_not_beat_the_mean_is_not_deployed(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "9\n1\n9\n1\n")
    result = handler.lambda_handler(load_event("sfn_evaluate.json"), lambda_context)
    assert result["deploy"] is False
    assert "does not beat the mean baseline" in result["reason"]


def test_wrong_line_count_is_input_data_error(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "2\n4\n6\n")
    with pytest.raises(InputDataError, match="3 predictions for 4 held-out rows"):
        handler.lambda_handler(load_event("sfn_evaluate.json"), lambda_context)
    assert METRICS_KEY not in _keys(s3)


def test_unreadable_prediction_names_file_and_line(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _put(s3, "2\n4\nNaN?\n8\n")
    with pytest.raises(InputDataError, match=r"features\.csv\.out: line 3 is not a number"):
        handler.lambda_handler(load_event("sfn_evaluate.json"), lambda_context)


def test_missing_transform_output_is_input_data_error(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.put_object(Bucket=BUCKET, Key=LABELS_KEY, Body=b"1\n5\n")
    with pytest.raises(InputDataError, match="wrote no output"):
        handler.lambda_handler(load_event("sfn_evaluate.json"), lambda_context)
