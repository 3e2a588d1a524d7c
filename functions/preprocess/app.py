"""Preprocess the uploaded CSV into training channels and the feature contract."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import RunInput
from sagepipe.step_settings import PreprocessFunctionSettings
from sagepipe.steps.prepare import prepare

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@cache
def settings() -> PreprocessFunctionSettings:
    return PreprocessFunctionSettings.from_env()


@cache
def s3() -> S3Client:
    return aws.s3_client()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(RunInput.from_dict(event), settings(), s3()).to_dict()
