"""Read the status of a processing job, training job, transform job or endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from sagepipe.aws_errors import raise_if_transient
from sagepipe.job_status import JobState, endpoint_state, job_state, processing_job_state

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

Kind = Literal["processing", "training", "transform", "endpoint"]


def read_status(
    kind: Kind, name: str, sagemaker: SageMakerClient, expected_config: str | None = None
) -> JobState:
    try:
        if kind == "processing":
            processing = sagemaker.describe_processing_job(ProcessingJobName=name)
            return processing_job_state(
                processing["ProcessingJobStatus"],
                processing.get("FailureReason"),
                processing.get("ExitMessage"),
            )
        if kind == "training":
            training = sagemaker.describe_training_job(TrainingJobName=name)
            return job_state(training["TrainingJobStatus"], training.get("FailureReason"))
        if kind == "transform":
            transform = sagemaker.describe_transform_job(TransformJobName=name)
            return job_state(transform["TransformJobStatus"], transform.get("FailureReason"))
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        raise_if_transient(error)
        raise
    return endpoint_state(
        endpoint["EndpointStatus"],
        endpoint.get("FailureReason"),
        endpoint.get("EndpointConfigName"),
        expected_config or "",
    )
