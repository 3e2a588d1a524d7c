"""Start the SageMaker Processing job that preprocesses a run's large input."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import RunInput
from sagepipe.step_settings import StartProcessingSettings
from sagepipe.steps.process import start_processing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient


@cache
def settings() -> StartProcessingSettings:
    return StartProcessingSettings.from_env()


@cache
def s3() -> S3Client:
    return aws.s3_client()


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunInput.from_dict(event["run"])
    return start_processing(run, settings(), s3(), sagemaker()).to_dict()
