"""Compute RMSE, MAE, R2 and the mean baseline; decide whether to deploy."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe import aws
from sagepipe.observability import logger, metrics, tracer
from sagepipe.run_state import Prepared, RunInput, TransformRef
from sagepipe.steps.evaluate import evaluate

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
    result = evaluate(
        run,
        Prepared.from_dict(event["prepared"]),
        TransformRef.from_dict(event["transform"]),
        s3(),
    )
    metrics.add_dimension(name="model", value=run.model)
    for name in ("rmse", "mae", "r2", "baseline_rmse"):
        metrics.add_metric(name=name.upper(), unit=MetricUnit.NoUnit, value=result.metrics[name])
    metrics.add_metric(name="Deployable", unit=MetricUnit.Count, value=int(result.deploy))
    return result.to_dict()
