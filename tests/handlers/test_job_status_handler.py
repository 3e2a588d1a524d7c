"""job_status: training job, transform job and endpoint -> RUNNING / SUCCEEDED / FAILED."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sagepipe.errors import TransientError

from .conftest import (
    ACCOUNT,
    PREFIX,
    REGION,
    RUN_ID,
    FakeLambdaContext,
    HandlerLoader,
    create_endpoint,
    create_model,
    create_training_job,
    load_event,
)

TRAINING_JOB = f"{RUN_ID}-tr"
TRANSFORM_JOB = f"{RUN_ID}-tf"
ENDPOINT = f"{PREFIX}-housing"
EXPECTED_CONFIG = f"{RUN_ID}-ec"
PREVIOUS_RUN = "housing-20261001000000-0f0f0f0f"
NOW = datetime(2026, 11, 20, 9, 45, tzinfo=UTC)


@pytest.fixture
def handler(load_handler: HandlerLoader) -> Any:
    return load_handler("job_status")


def _training_response(status: str, reason: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "TrainingJobName": TRAINING_JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{TRAINING_JOB}",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": NOW,
    }
    if reason is not None:
        response["FailureReason"] = reason
    return response


def _endpoint_response(status: str, config: str, reason: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    if reason is not None:
        response["FailureReason"] = reason
    return response


def test_completed_training_job_succeeded(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_training_job(sagemaker, TRAINING_JOB)  # moto: Completed at once
    result = handler.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)
    assert result == {"state": "SUCCEEDED", "status": "Completed", "reason": None}


def test_failed_training_job_carries_the_reason(
    handler: Any, lambda_context: FakeLambdaContext
) -> None:
    reason = "AlgorithmError: XGBoostError: label must be in [0,1] for logistic regression"
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response(
            "describe_training_job",
            _training_response("Failed", reason),
            {"TrainingJobName": TRAINING_JOB},
        )
        result = handler.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)
        stubber.assert_no_pending_responses()
    assert result == {"state": "FAILED", "status": "Failed", "reason": reason}


def test_stopped_training_job_failed_without_reason(
    handler: Any, lambda_context: FakeLambdaContext
) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_training_job", _training_response("Stopped"))
        result = handler.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)
    assert result == {
        "state": "FAILED",
        "status": "Stopped",
        "reason": "the job ended with status Stopped",
    }


def test_training_in_progress_is_running(handler: Any, lambda_context: FakeLambdaContext) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response("describe_training_job", _training_response("InProgress"))
        result = handler.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)
    assert result == {"state": "RUNNING", "status": "InProgress", "reason": None}


def test_completed_transform_job_succeeded(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_model(sagemaker)
    sagemaker.create_transform_job(
        TransformJobName=TRANSFORM_JOB,
        ModelName=f"{RUN_ID}-m",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/f.csv"}}
        },
        TransformOutput={"S3OutputPath": "s3://b/out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    result = handler.lambda_handler(load_event("sfn_job_status_transform.json"), lambda_context)
    assert result == {"state": "SUCCEEDED", "status": "Completed", "reason": None}


def test_failed_transform_job(handler: Any, lambda_context: FakeLambdaContext) -> None:
    response = {
        "TransformJobName": TRANSFORM_JOB,
        "TransformJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{TRANSFORM_JOB}",
        "TransformJobStatus": "Failed",
        "FailureReason": "ClientError: See job logs for more information",
        "ModelName": f"{RUN_ID}-m",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/f.csv"}}
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": NOW,
    }
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response(
            "describe_transform_job", response, {"TransformJobName": TRANSFORM_JOB}
        )
        result = handler.lambda_handler(load_event("sfn_job_status_transform.json"), lambda_context)
    assert result == {
        "state": "FAILED",
        "status": "Failed",
        "reason": "ClientError: See job logs for more information",
    }


def test_endpoint_in_service_on_the_expected_config(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_model(sagemaker)
    create_endpoint(sagemaker, ENDPOINT, EXPECTED_CONFIG, f"{RUN_ID}-m", "v20261120093000-1a2b3c4d")
    result = handler.lambda_handler(load_event("sfn_job_status_endpoint.json"), lambda_context)
    assert result == {"state": "SUCCEEDED", "status": "InService", "reason": None}


def test_endpoint_in_service_on_another_config_failed(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    """A rolled-back update leaves the endpoint InService on the previous config."""
    create_model(sagemaker, f"{PREVIOUS_RUN}-m")
    create_endpoint(
        sagemaker, ENDPOINT, f"{PREVIOUS_RUN}-ec", f"{PREVIOUS_RUN}-m", "v20261001000000-0f0f0f0f"
    )
    result = handler.lambda_handler(load_event("sfn_job_status_endpoint.json"), lambda_context)
    assert result["state"] == "FAILED"
    assert result["status"] == "InService"
    assert result["reason"].startswith(f"update to {EXPECTED_CONFIG} rolled back")


def test_endpoint_updating_is_running(handler: Any, lambda_context: FakeLambdaContext) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response(
            "describe_endpoint",
            _endpoint_response("Updating", f"{PREVIOUS_RUN}-ec"),
            {"EndpointName": ENDPOINT},
        )
        result = handler.lambda_handler(load_event("sfn_job_status_endpoint.json"), lambda_context)
    assert result == {"state": "RUNNING", "status": "Updating", "reason": None}


def test_failed_endpoint(handler: Any, lambda_context: FakeLambdaContext) -> None:
    reason = "The primary container for production variant failed the ping health check."
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response(
            "describe_endpoint", _endpoint_response("Failed", EXPECTED_CONFIG, reason)
        )
        result = handler.lambda_handler(load_event("sfn_job_status_endpoint.json"), lambda_context)
    assert result == {"state": "FAILED", "status": "Failed", "reason": reason}


def test_missing_job_propagates_the_client_error(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(ClientError, match="Could not find training job"):
        handler.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)


def test_throttling_is_transient(handler: Any, lambda_context: FakeLambdaContext) -> None:
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_client_error("describe_endpoint", service_error_code="ThrottlingException")
        with pytest.raises(TransientError):
            handler.lambda_handler(load_event("sfn_job_status_endpoint.json"), lambda_context)


def test_waits_for_a_running_job_within_the_status_wait(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    waiting = load_handler("job_status", STATUS_WAIT_SECONDS="30")
    with Stubber(waiting.sagemaker()) as stubber:
        stubber.add_response("describe_training_job", _training_response("InProgress"))
        stubber.add_response("describe_training_job", _training_response("InProgress"))
        stubber.add_response("describe_training_job", _training_response("Completed"))
        result = waiting.lambda_handler(load_event("sfn_job_status_training.json"), lambda_context)
        stubber.assert_no_pending_responses()
    assert result == {"state": "SUCCEEDED", "status": "Completed", "reason": None}


@dataclass(frozen=True)
class _AlmostOutOfTime(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 5_000


def test_no_waiting_when_the_function_has_no_time_left(load_handler: HandlerLoader) -> None:
    waiting = load_handler("job_status", STATUS_WAIT_SECONDS="30")
    with Stubber(waiting.sagemaker()) as stubber:
        stubber.add_response("describe_training_job", _training_response("InProgress"))
        result = waiting.lambda_handler(
            load_event("sfn_job_status_training.json"), _AlmostOutOfTime()
        )
        stubber.assert_no_pending_responses()
    assert result == {"state": "RUNNING", "status": "InProgress", "reason": None}
