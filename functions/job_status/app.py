"""Report a processing, training or transform job, or an endpoint, as RUNNING, SUCCEEDED
or FAILED, waiting (up to STATUS_WAIT_SECONDS) for it to leave RUNNING."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.job_status import wait_while_running
from sagepipe.observability import logger, tracer
from sagepipe.step_settings import JobStatusSettings
from sagepipe.steps.status import read_status

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

# Left of the function's timeout after waiting: one more Describe call and the reply.
RESERVE_SECONDS = 10.0


@cache
def settings() -> JobStatusSettings:
    return JobStatusSettings.from_env()


@cache
def sagemaker() -> SageMakerClient:
    return aws.sagemaker_client()


@logger.inject_lambda_context(correlation_id_path="run_id")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    kind, name, expected_config = event["kind"], event["name"], event.get("expected_config")
    remaining = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    state = wait_while_running(
        lambda: read_status(kind, name, sagemaker(), expected_config),
        budget_seconds=max(0.0, min(settings().wait_seconds, remaining)),
    )
    logger.info("status", extra={"kind": kind, "job": name, **state.to_dict()})
    return state.to_dict()
