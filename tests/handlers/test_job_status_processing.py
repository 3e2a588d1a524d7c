"""job_status for processing jobs: the job's exit message is the reason it failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from .conftest import (
    ACCOUNT,
    REGION,
    ROLE_ARN,
    RUN_ID,
    FakeLambdaContext,
    HandlerLoader,
    load_event,
)

JOB = f"{RUN_ID}-pp"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


@pytest.fixture
def handler(load_handler: HandlerLoader) -> Any:
    return load_handler("job_status")


def _response(status: str, **extra: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": JOB,
        "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{JOB}",
        "ProcessingJobStatus": status,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {"ImageUri": IMAGE},
        "CreationTime": datetime(2026, 11, 20, 9, 45, tzinfo=UTC),
        **extra,
    }


def test_a_completed_job_succeeded(
    handler: Any, sagemaker: Any, lambda_context: FakeLambdaContext
) -> None:
    sagemaker.create_processing_job(
        ProcessingJobName=JOB,
        ProcessingResources=_response("Completed")["ProcessingResources"],
        AppSpecification={"ImageUri": IMAGE},
        RoleArn=ROLE_ARN,
    )

    result = handler.lambda_handler(load_event("sfn_job_status_processing.json"), lambda_context)

    assert result == {"state": "SUCCEEDED", "status": "Completed", "reason": None}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_response("InProgress"), {"state": "RUNNING", "status": "InProgress", "reason": None}),
        (
            _response(
                "Failed",
                FailureReason="AlgorithmError: See job logs for more information",
                ExitMessage="InputDataError: s3://b/incoming/housing/a.csv row 7: 3 fields\n",
            ),
            {
                "state": "FAILED",
                "status": "Failed",
                "reason": "InputDataError: s3://b/incoming/housing/a.csv row 7: 3 fields",
            },
        ),
        (
            _response("Failed", FailureReason="ClientError: ResourceLimitExceeded"),
            {"state": "FAILED", "status": "Failed", "reason": "ClientError: ResourceLimitExceeded"},
        ),
        (
            _response("Stopped"),
            {"state": "FAILED", "status": "Stopped", "reason": "the job ended with status Stopped"},
        ),
    ],
    ids=["running", "failed-with-exit-message", "failed", "stopped"],
)
def test_processing_states(
    handler: Any,
    lambda_context: FakeLambdaContext,
    response: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    client = handler.sagemaker()
    with Stubber(client) as stubber:
        stubber.add_response("describe_processing_job", response, {"ProcessingJobName": JOB})
        result = handler.lambda_handler(
            load_event("sfn_job_status_processing.json"), lambda_context
        )
    assert result == expected
