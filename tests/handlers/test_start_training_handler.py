"""start_training: the CreateTrainingJob request as moto's SageMaker records it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sagepipe.errors import TransientError

from .conftest import (
    BUCKET,
    ROLE_ARN,
    RUN_ID,
    RUN_ROOT,
    FakeLambdaContext,
    HandlerLoader,
    load_event,
)

JOB_NAME = f"{RUN_ID}-tr"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
LINEAR_LEARNER_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
XGBOOST_DEFAULTS = {
    "max_depth": "5",
    "eta": "0.2",
    "gamma": "4",
    "min_child_weight": "6",
    "subsample": "0.8",
    "objective": "reg:squarederror",
    "early_stopping_rounds": "10",
    "num_round": "200",
}


def _channels(job: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        channel["ChannelName"]: (
            channel["DataSource"]["S3DataSource"]["S3Uri"],
            channel["ContentType"],
        )
        for channel in job["InputDataConfig"]
    }


def test_xgboost_training_job(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("start_training")
    result = handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)

    assert result == {"job_name": JOB_NAME, "image": XGBOOST_IMAGE}
    job = sagemaker.describe_training_job(TrainingJobName=JOB_NAME)
    assert job["AlgorithmSpecification"]["TrainingImage"] == XGBOOST_IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["HyperParameters"] == XGBOOST_DEFAULTS
    assert _channels(job) == {
        "train": (f"s3://{BUCKET}/{RUN_ROOT}data/train/train.csv", "text/libsvm"),
        "validation": (f"s3://{BUCKET}/{RUN_ROOT}data/validation/validation.csv", "text/libsvm"),
    }
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/{RUN_ROOT}training/"
    assert job["RoleArn"] == ROLE_ARN
    assert job["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert not job.get("EnableManagedSpotTraining", False)


def test_user_hyperparameters_are_merged(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_start_training.json")
    event["prepared"]["config"]["hyperparameters"] = {"eta": 0.05, "num_round": 50}
    handler = load_handler("start_training")
    handler.lambda_handler(event, lambda_context)

    job = sagemaker.describe_training_job(TrainingJobName=JOB_NAME)
    assert job["HyperParameters"] == {**XGBOOST_DEFAULTS, "eta": "0.05", "num_round": "50"}


def test_no_validation_channel_when_the_split_is_empty(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_start_training.json")
    event["prepared"]["validation_uri"] = None
    load_handler("start_training").lambda_handler(event, lambda_context)

    job = sagemaker.describe_training_job(TrainingJobName=JOB_NAME)
    assert list(_channels(job)) == ["train"]


def test_linear_learner_training_job(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_start_training.json")
    event["prepared"]["config"]["algorithm"] = "linear-learner"
    event["prepared"]["algorithm"] = "linear-learner"
    event["prepared"]["content_type"] = "text/csv"
    result = load_handler("start_training").lambda_handler(event, lambda_context)

    assert result["image"] == LINEAR_LEARNER_IMAGE
    job = sagemaker.describe_training_job(TrainingJobName=JOB_NAME)
    assert job["AlgorithmSpecification"]["TrainingImage"] == LINEAR_LEARNER_IMAGE
    assert job["HyperParameters"] == {"predictor_type": "regressor", "feature_dim": "4"}
    assert {content_type for _, content_type in _channels(job).values()} == {"text/csv"}


def test_spot_training(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler(
        "start_training", USE_SPOT_TRAINING="true", TRAINING_MAX_RUNTIME_SECONDS="1200"
    )
    handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)

    job = sagemaker.describe_training_job(TrainingJobName=JOB_NAME)
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 1200, "MaxWaitTimeInSeconds": 2400}
    assert job["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/{RUN_ROOT}checkpoints/"


def test_second_call_for_the_same_run_tolerates_resource_in_use(
    load_handler: HandlerLoader, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("start_training")
    first = handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)

    # moto overwrites a job of the same name; SageMaker answers ResourceInUse.
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_client_error(
            "create_training_job",
            service_error_code="ResourceInUse",
            service_message=f"Training job names must be unique: {JOB_NAME}",
            http_status_code=400,
        )
        second = handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)
        stubber.assert_no_pending_responses()

    assert second == first
    assert sagemaker.describe_training_job(TrainingJobName=JOB_NAME)["TrainingJobName"] == JOB_NAME


def test_throttling_is_transient(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("start_training")
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_client_error("create_training_job", service_error_code="ThrottlingException")
        with pytest.raises(TransientError):
            handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)


def test_other_errors_propagate(
    load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("start_training")
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_client_error("create_training_job", service_error_code="ResourceLimitExceeded")
        with pytest.raises(ClientError, match="ResourceLimitExceeded"):
            handler.lambda_handler(load_event("sfn_start_training.json"), lambda_context)
