"""Start the run's SageMaker training job."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import Prepared, RunInput
from sagepipe.step_settings import TrainingSettings
from sagepipe.steps.train import start_training

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


@cache
def settings() -> TrainingSettings:
    return TrainingSettings.from_env()


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = RunInput.from_dict(event["run"])
    prepared = Prepared.from_dict(event["prepared"])
    return start_training(run, prepared, settings(), sagemaker()).to_dict()
