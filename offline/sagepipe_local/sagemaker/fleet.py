"""A fleet: the loaded models of one endpoint config, served together and swapped whole."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from sagepipe_local.sagemaker.algorithms.base import Predictor
from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.model_loading import ModelLoadError, load_predictor, primary_container
from sagepipe_local.sagemaker.state import now

logger = logging.getLogger(__name__)

_RETRY_FIRST_WAIT_SECONDS = 0.2
_RETRY_LONGEST_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class ServingVariant:
    name: str
    model_name: str
    image: str
    weight: float
    instance_count: int
    predictor: Predictor
    deployed_at: float

    def summary(self) -> dict[str, Any]:
        """A ProductionVariantSummary of DescribeEndpoint."""
        digest = hashlib.sha256(self.image.encode()).hexdigest()
        return {
            "VariantName": self.name,
            "DeployedImages": [
                {
                    "SpecifiedImage": self.image,
                    "ResolvedImage": f"{self.image.split(':')[0]}@sha256:{digest}",
                    "ResolutionTime": self.deployed_at,
                }
            ],
            "CurrentWeight": self.weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instance_count,
            "DesiredInstanceCount": self.instance_count,
        }


@dataclass(frozen=True)
class Fleet:
    """Immutable: an invocation that took a fleet keeps using it even after a swap."""

    config_name: str
    variants: tuple[ServingVariant, ...]

    def variant(self, name: str) -> ServingVariant | None:
        return next((v for v in self.variants if v.name == name), None)

    def pick(self) -> ServingVariant:
        """Route by variant weight, as SageMaker does without TargetVariant."""
        weights = [variant.weight for variant in self.variants]
        if sum(weights) <= 0:
            return self.variants[0]
        return random.choices(self.variants, weights=weights, k=1)[0]


def desired_variant_summary(variant: dict[str, Any]) -> dict[str, Any]:
    """What DescribeEndpoint shows for a variant that is still being created."""
    return {
        "VariantName": variant["VariantName"],
        "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
        "DesiredInstanceCount": int(variant.get("InitialInstanceCount", 1)),
        "VariantStatus": [{"Status": "Creating", "StartTime": now()}],
    }


@dataclass(frozen=True)
class RetryPolicy:
    """How long to retry S3 outages, and whether a missing artifact counts as one."""

    patience_seconds: float
    retry_missing: bool


def load_fleet(context: EmulatorContext, config_name: str, retry: RetryPolicy) -> Fleet:
    """Load every variant of a config, retrying S3 as `retry` allows."""
    with context.registry.lock:
        config = context.registry.endpoint_configs.get(config_name)
        if config is None:
            raise ModelLoadError(f"The endpoint configuration {config_name} no longer exists")
        plan = []
        for variant in config.variants:
            model = context.registry.models.get(variant["ModelName"])
            if model is None:
                raise ModelLoadError(
                    f"Could not find model {variant['ModelName']} for production variant "
                    f"{variant['VariantName']}"
                )
            plan.append((variant, dict(model.request)))
    serving = []
    for variant, model_request in plan:
        predictor = _load_with_retries(context, variant["VariantName"], model_request, retry)
        serving.append(
            ServingVariant(
                name=variant["VariantName"],
                model_name=variant["ModelName"],
                image=str(primary_container(model_request).get("Image", "")),
                weight=float(variant.get("InitialVariantWeight", 1.0)),
                instance_count=int(variant.get("InitialInstanceCount", 1)),
                predictor=predictor,
                deployed_at=now(),
            )
        )
    return Fleet(config_name=config_name, variants=tuple(serving))


def _load_with_retries(
    context: EmulatorContext,
    variant_name: str,
    model_request: dict[str, Any],
    retry: RetryPolicy,
) -> Predictor:
    deadline = time.monotonic() + retry.patience_seconds
    wait = _RETRY_FIRST_WAIT_SECONDS
    while True:
        try:
            return load_predictor(model_request, context.s3, context.work_dir)
        except ModelLoadError as error:
            retryable = error.transient or (error.missing and retry.retry_missing)
            if not retryable or time.monotonic() + wait > deadline:
                raise ModelLoadError(
                    f"Failed to load the model for production variant {variant_name}: {error}"
                ) from error
            logger.info("variant %s: %s; retrying in %.1fs", variant_name, error, wait)
        if context.pause(wait):
            raise ModelLoadError("the emulator is shutting down")
        wait = min(wait * 2, _RETRY_LONGEST_WAIT_SECONDS)
