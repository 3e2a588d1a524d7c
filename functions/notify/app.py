"""Publish the run's outcome (deployed, rejected or failed) to the SNS topic."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.step_settings import NotifySettings
from sagepipe.steps.notify import notify

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


@cache
def settings() -> NotifySettings:
    return NotifySettings.from_env()


@cache
def sns() -> SNSClient:
    return aws.sns_client()


@logger.inject_lambda_context(correlation_id_path="run.run_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = event["outcome"]
    metrics.add_metric(name=f"Runs{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    return notify(
        outcome,
        event["run"],
        settings().topic_arn,
        sns(),
        evaluation=event.get("evaluation"),
        deployment=event.get("deployment"),
        failure=event.get("failure"),
    )
