"""Report a training job, transform job or endpoint as RUNNING, SUCCEEDED or FAILED."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, tracer
from sagepipe.steps.status import read_status

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = read_status(event["kind"], event["name"], sagemaker(), event.get("expected_config"))
    logger.info("status", extra={"kind": event["kind"], "job": event["name"], **state.to_dict()})
    return state.to_dict()
