"""Record which model version the endpoint now serves."""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, tracer
from sagepipe.run_state import Deployment, RunInput
from sagepipe.settings import CommonSettings
from sagepipe.steps.deploy import record_live

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@cache
def settings() -> CommonSettings:
    return CommonSettings.from_env()


@cache
def s3() -> S3Client:
    return aws.s3_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    pointer = record_live(
        RunInput.from_dict(event["run"]),
        Deployment.from_dict(event["deployment"]),
        settings().data_bucket,
        s3(),
    )
    return asdict(pointer)
