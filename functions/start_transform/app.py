"""Create the SageMaker model and batch-transform the held-out split."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import Prepared, RunInput, TrainingRef
from sagepipe.step_settings import TransformSettings
from sagepipe.steps.score import start_transform

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


@cache
def settings() -> TransformSettings:
    return TransformSettings.from_env()


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunInput.from_dict(event["run"])
    prepared = Prepared.from_dict(event["prepared"])
    training = TrainingRef.from_dict(event["training"])
    return start_transform(run, prepared, training, settings(), sagemaker()).to_dict()
