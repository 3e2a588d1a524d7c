"""start_transform: the SageMaker model and the batch transform job, as moto records them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from .conftest import (
    BUCKET,
    ROLE_ARN,
    RUN_ID,
    RUN_ROOT,
    XGBOOST_IMAGE,
    FakeLambdaContext,
    HandlerLoader,
    create_training_job,
    load_event,
)

MODEL_NAME = f"{RUN_ID}-m"
TRANSFORM_JOB = f"{RUN_ID}-tf"
OUTPUT_URI = f"s3://{BUCKET}/{RUN_ROOT}transform/"


@pytest.fixture
def handler(load_handler: HandlerLoader) -> Any:
    return load_handler("start_transform")


def test_creates_model_and_transform_job(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    job = create_training_job(sagemaker)
    model_data = job["ModelArtifacts"]["S3ModelArtifacts"]

    result = handler.lambda_handler(load_event("sfn_start_transform.json"), lambda_context)

    assert result["job_name"] == TRANSFORM_JOB
    assert result["model_name"] == MODEL_NAME
    assert result["model_data"] == model_data
    assert result["output_uri"] == OUTPUT_URI
    assert datetime.fromisoformat(result["trained_at"]) == job["TrainingEndTime"]

    model = sagemaker.describe_model(ModelName=MODEL_NAME)
    assert model["PrimaryContainer"]["Image"] == XGBOOST_IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_data
    assert model["ExecutionRoleArn"] == ROLE_ARN

    transform = sagemaker.describe_transform_job(TransformJobName=TRANSFORM_JOB)
    assert transform["ModelName"] == MODEL_NAME
    assert transform["BatchStrategy"] == "MultiRecord"
    assert transform["MaxPayloadInMB"] == 6
    assert transform["TransformInput"] == {
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{BUCKET}/{RUN_ROOT}data/test/features.csv",
            }
        },
        "ContentType": "text/libsvm",
        "SplitType": "Line",
        "CompressionType": "None",
    }
    assert transform["TransformOutput"] == {
        "S3OutputPath": OUTPUT_URI,
        "Accept": "text/csv",
        "AssembleWith": "Line",
    }
    assert transform["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}


def test_csv_channel_for_linear_learner(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    create_training_job(sagemaker)
    event = load_event("sfn_start_transform.json")
    event["prepared"]["content_type"] = "text/csv"
    handler.lambda_handler(event, lambda_context)
    transform = sagemaker.describe_transform_job(TransformJobName=TRANSFORM_JOB)
    assert transform["TransformInput"]["ContentType"] == "text/csv"


def test_retry_reuses_the_model_and_tolerates_resource_in_use(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    job = create_training_job(sagemaker)
    first = handler.lambda_handler(load_event("sfn_start_transform.json"), lambda_context)

    model = sagemaker.describe_model(ModelName=MODEL_NAME)
    with Stubber(handler.sagemaker()) as stubber:
        stubber.add_response(
            "describe_training_job",
            {
                key: job[key]
                for key in (
                    "TrainingJobName",
                    "TrainingJobArn",
                    "ModelArtifacts",
                    "TrainingJobStatus",
                    "SecondaryStatus",
                    "StoppingCondition",
                    "CreationTime",
                    "TrainingEndTime",
                )
            },
        )
        stubber.add_response(
            "describe_model",
            {
                "ModelName": MODEL_NAME,
                "ModelArn": model["ModelArn"],
                "CreationTime": job["CreationTime"],
            },
            {"ModelName": MODEL_NAME},
        )
        # No create_model: the model exists. The transform job exists too.
        stubber.add_client_error(
            "create_transform_job",
            service_error_code="ResourceInUse",
            service_message=f"Job name must be unique: {TRANSFORM_JOB}",
        )
        second = handler.lambda_handler(load_event("sfn_start_transform.json"), lambda_context)
        stubber.assert_no_pending_responses()

    assert second == first


def test_missing_training_job_propagates(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(ClientError, match="Could not find training job"):
        handler.lambda_handler(load_event("sfn_start_transform.json"), lambda_context)
    with pytest.raises(ClientError, match="Could not find model"):
        sagemaker.describe_model(ModelName=MODEL_NAME)
