"""Return the Prepared record the run's processing job wrote (as Preprocess would)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import ProcessingRef, RunInput
from sagepipe.steps.process import collect_processing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@cache
def s3() -> S3Client:
    return aws.s3_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunInput.from_dict(event["run"])
    processing = ProcessingRef.from_dict(event["processing"])
    return collect_processing(run, processing, s3()).to_dict()
