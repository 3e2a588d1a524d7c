"""Prediction API: POST /predict/{model} and GET /models/{model} (API Gateway REST proxy)."""

from __future__ import annotations

import functools
import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sagepipe.observability import logger, metrics
from sagepipe.prediction_http import ApiResponse, handle_event, internal_error, request_id
from sagepipe.prediction_service import PredictionService
from sagepipe.settings import PredictSettings

settings = PredictSettings.from_env()


@functools.cache
def service() -> PredictionService:
    """Built once per container, on the first request; tests replace this function.

    boto3 and its clients cost ~200 ms. Importing them here rather than at module level
    keeps the module import lean (the cold-start figure `make bench` reports beside
    `import pandas`); the first request pays them instead, which the benchmark also
    reports. The X-Ray SDK is not loaded at all: Lambda's Active tracing and API
    Gateway's tracing already trace this function.
    """
    from sagepipe import aws
    from sagepipe.registry import ModelRegistry

    return PredictionService(
        ModelRegistry(aws.s3_client(), settings.common.data_bucket),
        aws.sagemaker_runtime_client(),
        # Only a request that meets an endpoint update needs the control-plane client.
        functools.cache(aws.sagemaker_client),
        max_records=settings.max_records,
        live_cache_seconds=settings.live_cache_seconds,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = handle_event(event, service())
    except Exception:  # noqa: BLE001 - the API's last resort; logged with its stack trace
        # The stack trace goes to the log only; the caller gets the request id.
        logger.exception("prediction request failed unexpectedly")
        response = internal_error(request_id(event, context.aws_request_id))
    _record(response, (time.perf_counter() - started) * 1000.0)
    return response.to_proxy()


def _record(response: ApiResponse, elapsed_ms: float) -> None:
    result = response.prediction
    if result is not None:
        metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="PredictedRows", unit=MetricUnit.Count, value=len(result.predictions)
        )
        metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        if result.rerouted_from is not None:
            metrics.add_metric(name="PredictRerouted", unit=MetricUnit.Count, value=1)
            logger.warning(
                "endpoint served another version than the live pointer",
                extra={"live_pointer": result.rerouted_from, "served": result.version},
            )
        logger.info(
            "prediction",
            extra={
                "model": result.model,
                "version": result.version,
                "rows": len(result.predictions),
                "elapsed_ms": round(elapsed_ms, 1),
            },
        )
        return
    if response.status >= 400:
        name = "ServerErrors" if response.status >= 500 else "ClientErrors"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        log = logger.warning if response.status >= 500 else logger.info
        log(
            "request refused", extra={"status": response.status, "reason": response.body["message"]}
        )
    else:
        metrics.add_metric(name="Describes", unit=MetricUnit.Count, value=1)
