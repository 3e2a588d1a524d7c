"""Register the model version and create or update the endpoint."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import Evaluation, Prepared, RunInput, TransformRef
from sagepipe.step_settings import DeploySettings
from sagepipe.steps.deploy import deploy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient


@cache
def settings() -> DeploySettings:
    return DeploySettings.from_env()


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@cache
def s3() -> S3Client:
    return aws.s3_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return deploy(
        run=RunInput.from_dict(event["run"]),
        prepared=Prepared.from_dict(event["prepared"]),
        transform=TransformRef.from_dict(event["transform"]),
        evaluation=Evaluation.from_dict(event["evaluation"]),
        settings=settings(),
        sagemaker=sagemaker(),
        s3=s3(),
    ).to_dict()
