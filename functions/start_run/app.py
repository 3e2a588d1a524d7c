"""S3 upload -> one state machine execution per uploaded data object."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.step_settings import StartRunSettings
from sagepipe.steps.start_run import start_runs

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


@cache
def settings() -> StartRunSettings:
    return StartRunSettings.from_env()


@cache
def sfn() -> SFNClient:
    return aws.sfn_client()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runs = start_runs(event, settings(), sfn())
    started = sum(1 for run in runs if run["status"] == "started")
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=started)
    return {"runs": runs}
