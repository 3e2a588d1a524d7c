"""collect_processing: the processing job's prepared.json -> the Prepared record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepipe.errors import ProcessingOutputError

from .conftest import BUCKET, RUN_ROOT, FakeLambdaContext, HandlerLoader, load_event

ROOT = f"s3://{BUCKET}/{RUN_ROOT}"


def _prepared(root: str = ROOT) -> dict[str, Any]:
    return {
        "config": {
            "target": "price",
            "algorithm": "xgboost",
            "hyperparameters": {},
            "max_rmse": None,
            "drop_columns": [],
            "categorical_columns": [],
            "test_fraction": 0.2,
            "validation_fraction": 0.1,
            "seed": 42,
        },
        "algorithm": "xgboost",
        "content_type": "text/libsvm",
        "train_uri": f"{root}data/train/train.libsvm",
        "validation_uri": f"{root}data/validation/validation.libsvm",
        "test_features_uri": f"{root}data/test/features.libsvm",
        "test_labels_uri": f"{root}data/test/labels.csv",
        "schema_uri": f"{root}schema.json",
        "profile_uri": f"{root}profile.json",
        "rows": {"input": 40, "dropped_missing_target": 0, "train": 28, "validation": 4, "test": 8},
        "feature_count": 3,
        "train_target_mean": 41.5,
        "dropped": [{"name": "id", "reason": "listed in drop_columns"}],
    }


@pytest.fixture
def handler(load_handler: HandlerLoader) -> Any:
    return load_handler("collect_processing")


def test_returns_the_record_the_job_wrote(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    prepared = _prepared()
    s3.put_object(Bucket=BUCKET, Key=f"{RUN_ROOT}prepared.json", Body=json.dumps(prepared))

    result = handler.lambda_handler(load_event("sfn_collect_processing.json"), lambda_context)

    assert result == prepared


def test_a_missing_record_names_the_job(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(ProcessingOutputError, match=r"-pp completed without writing"):
        handler.lambda_handler(load_event("sfn_collect_processing.json"), lambda_context)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", json.dumps({"algorithm": "xgboost"}).encode()],
    ids=["not-json", "not-an-object", "incomplete"],
)
def test_a_malformed_record_is_an_output_error(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext, body: bytes
) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{RUN_ROOT}prepared.json", Body=body)

    with pytest.raises(ProcessingOutputError, match="not a Prepared record"):
        handler.lambda_handler(load_event("sfn_collect_processing.json"), lambda_context)


def test_files_outside_the_run_are_refused(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    other = f"s3://{BUCKET}/runs/housing/another-run/"
    s3.put_object(Bucket=BUCKET, Key=f"{RUN_ROOT}prepared.json", Body=json.dumps(_prepared(other)))

    with pytest.raises(ProcessingOutputError, match="outside"):
        handler.lambda_handler(load_event("sfn_collect_processing.json"), lambda_context)


def test_a_prepared_uri_of_another_run_is_refused(
    handler: Any, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_collect_processing.json")
    event["processing"]["prepared_uri"] = f"s3://{BUCKET}/runs/housing/another-run/prepared.json"

    with pytest.raises(ProcessingOutputError, match="not this run"):
        handler.lambda_handler(event, lambda_context)
