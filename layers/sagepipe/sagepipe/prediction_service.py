"""Serve predictions from the live model version, consistently during endpoint updates.

The rule (docs/design.md, "Registry"): a request is encoded with the contract of one
model version and sent with `TargetVariant=v<version>`, so only that version's model can
answer it. When the variant is gone (the endpoint already moved to another endpoint
config), DescribeEndpoint names the serving variant, whose version's contract re-encodes
the request for one more attempt. Failures are told apart by error code, never by text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from sagepipe.algorithms import endpoint_accept
from sagepipe.aws_errors import THROTTLING_CODES, error_code
from sagepipe.errors import (
    EndpointFailureError,
    EndpointUnavailableError,
    InputDataError,
    ModelNotFoundError,
)
from sagepipe.naming import validate_model_name, variant_name, version_of_variant
from sagepipe.prediction import (
    RecordEncoder,
    decode_predictions,
    describe_contract,
)
from sagepipe.registry import LivePointer, ModelRegistry, ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

NOT_READY_MESSAGE = "endpoint is not ready, retry shortly"
# A found live pointer is cached for live_cache_seconds, "no live version" for at most
# this long: a container asked just before a model's first deployment serves it within a
# second, and an unknown name still costs at most one registry read per second.
MISS_SECONDS = 1.0
# InvokeEndpoint: the target variant (or the endpoint) does not exist.
_VARIANT_GONE = "ValidationError"
_MODEL_ERROR = "ModelError"
_NOT_READY = frozenset(
    {"ModelNotReadyException", "ServiceUnavailable", "InternalDependencyException"}
    | THROTTLING_CODES
)
# DescribeEndpoint: the endpoint does not exist.
_NO_ENDPOINT = frozenset({"ValidationException", "ResourceNotFound"})
_MODEL_MESSAGE_CHARS = 300
_NAME_IN_MESSAGE_CHARS = 64


@dataclass(frozen=True)
class PredictionResult:
    model: str
    version: str
    predictions: list[float]
    # The live pointer's version when the endpoint turned out to serve another one.
    rerouted_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "model": {"name": self.model, "version": self.version},
        }


@dataclass(frozen=True)
class _Loaded:
    record: ModelVersion
    encoder: RecordEncoder


class _VariantGoneError(Exception):
    """InvokeEndpoint answered ValidationError for the variant it was sent to."""


class PredictionService:
    """Answers prediction and describe requests; holds the per-container caches."""

    def __init__(
        self,
        registry: ModelRegistry,
        runtime: SageMakerRuntimeClient,
        sagemaker: Callable[[], SageMakerClient],
        *,
        max_records: int,
        live_cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sagemaker` returns the control-plane client, which only a rollout needs."""
        self._registry = registry
        self._runtime = runtime
        self._sagemaker = sagemaker
        self._max_records = max_records
        self._live_ttl = live_cache_seconds
        self._clock = clock
        self._live: dict[str, tuple[LivePointer | None, float]] = {}
        self._versions: dict[tuple[str, str], _Loaded] = {}

    def predict(self, model: str, body: str | bytes) -> PredictionResult:
        _check_model_name(model)
        pointer = self._live_pointer(model)
        live = self._live_version(pointer)
        try:
            return self._invoke(pointer.endpoint, live, body)
        except _VariantGoneError:
            pass
        serving = self._serving_version(pointer)
        if serving.record.version == live.record.version:
            raise EndpointFailureError(
                f"the endpoint rejected the request for version {live.record.version}"
            )
        self._remember_serving(pointer, serving)
        try:
            result = self._invoke(pointer.endpoint, serving, body)
        except _VariantGoneError as error:
            raise EndpointUnavailableError(NOT_READY_MESSAGE) from error
        return PredictionResult(
            model=result.model,
            version=result.version,
            predictions=result.predictions,
            rerouted_from=live.record.version,
        )

    def describe(self, model: str) -> dict[str, Any]:
        _check_model_name(model)
        pointer = self._live_pointer(model)
        record = self._live_version(pointer).record
        return {
            "model": record.model,
            "version": record.version,
            "run_id": record.run_id,
            "trained_at": record.trained_at,
            "algorithm": record.algorithm,
            "metrics": record.metrics,
            "live_since": pointer.updated_at,
            "target": record.contract.target,
            "input": {**describe_contract(record.contract), "max_records": self._max_records},
        }

    def _invoke(self, endpoint: str, loaded: _Loaded, body: str | bytes) -> PredictionResult:
        batch = loaded.encoder.encode_request(body, self._max_records)
        variant = loaded.record.variant
        try:
            response = self._runtime.invoke_endpoint(
                EndpointName=endpoint,
                Body=batch.body,
                ContentType=batch.content_type,
                Accept=endpoint_accept(loaded.record.contract.algorithm),
                TargetVariant=variant,
            )
        except ClientError as error:
            code = error_code(error)
            if code == _VARIANT_GONE:
                raise _VariantGoneError(variant) from error
            if code == _MODEL_ERROR:
                raise EndpointFailureError(_model_error_message(error)) from error
            if code in _NOT_READY:
                raise EndpointUnavailableError(NOT_READY_MESSAGE) from error
            raise
        except BotoConnectionError as error:
            raise EndpointUnavailableError(NOT_READY_MESSAGE) from error
        invoked = response.get("InvokedProductionVariant")
        if invoked != variant:
            raise EndpointFailureError(
                f"the answer came from variant {invoked!r}, not {variant!r}: it was discarded"
            )
        predictions = decode_predictions(
            response["Body"].read(), response.get("ContentType"), batch.rows
        )
        return PredictionResult(
            model=loaded.record.model, version=loaded.record.version, predictions=predictions
        )

    def _live_pointer(self, model: str) -> LivePointer:
        now = self._clock()
        cached = self._live.get(model)
        if cached is not None and cached[1] > now:
            pointer = cached[0]
        else:
            pointer = self._read_registry(lambda: self._registry.get_live(model))
            ttl = self._live_ttl if pointer is not None else min(self._live_ttl, MISS_SECONDS)
            self._live[model] = (pointer, now + ttl)
        if pointer is None:
            raise ModelNotFoundError(f"model {model!r} not found: it has no live version")
        return pointer

    def _live_version(self, pointer: LivePointer) -> _Loaded:
        loaded = self._version(pointer.model, pointer.version)
        if loaded is None:
            raise LookupError(
                f"live pointer of {pointer.model!r} names version {pointer.version}, "
                "which has no registry record"
            )
        return loaded

    def _version(self, model: str, version: str) -> _Loaded | None:
        key = (model, version)
        loaded = self._versions.get(key)
        if loaded is None:
            record = self._read_registry(lambda: self._registry.get_version(model, version))
            if record is None:
                return None
            loaded = _Loaded(record, RecordEncoder(record.contract))
            self._versions[key] = loaded
        return loaded

    def _serving_version(self, pointer: LivePointer) -> _Loaded:
        """The version behind the endpoint's current variant, from DescribeEndpoint."""
        try:
            description = self._sagemaker().describe_endpoint(EndpointName=pointer.endpoint)
        except ClientError as error:
            code = error_code(error)
            if code in _NO_ENDPOINT:
                raise EndpointUnavailableError(
                    f"endpoint {pointer.endpoint} does not exist (yet): {NOT_READY_MESSAGE}"
                ) from error
            if code in THROTTLING_CODES:
                raise EndpointUnavailableError(NOT_READY_MESSAGE) from error
            raise
        candidates: list[tuple[float, str]] = []
        for summary in description.get("ProductionVariants", []):
            version = version_of_variant(summary["VariantName"])
            if version is not None:
                candidates.append((summary.get("CurrentWeight", 0.0), version))
        if not candidates:
            raise EndpointUnavailableError(NOT_READY_MESSAGE)
        _, version = max(candidates)
        loaded = self._version(pointer.model, version)
        if loaded is None:
            raise EndpointFailureError(
                f"the endpoint serves version {version}, which is not in the model registry"
            )
        return loaded

    def _remember_serving(self, pointer: LivePointer, serving: _Loaded) -> None:
        """Use the serving version until the pointer cache expires, not one more detour."""
        version = serving.record.version
        moved = LivePointer(
            model=pointer.model,
            version=version,
            endpoint=pointer.endpoint,
            variant=variant_name(version),
            updated_at=pointer.updated_at,
        )
        self._live[pointer.model] = (moved, self._clock() + self._live_ttl)

    @staticmethod
    def _read_registry[T](read: Callable[[], T]) -> T:
        try:
            return read()
        except ClientError as error:
            if error_code(error) in THROTTLING_CODES:
                raise EndpointUnavailableError(
                    "the model registry is busy, retry shortly"
                ) from error
            raise


def _check_model_name(model: str) -> None:
    try:
        validate_model_name(model)
    except InputDataError as error:
        shown = model if len(model) <= _NAME_IN_MESSAGE_CHARS else model[:_NAME_IN_MESSAGE_CHARS]
        raise ModelNotFoundError(
            f"model {shown!r} not found: model names are 1-32 lowercase letters, digits "
            "and single hyphens"
        ) from error


def _model_error_message(error: ClientError) -> str:
    """The container's own message, first line only and trimmed: never a stack trace."""
    response: dict[str, Any] = dict(error.response)
    original = response.get("OriginalMessage") or response.get("Error", {}).get("Message", "")
    first_line = next((line.strip() for line in str(original).splitlines() if line.strip()), "")
    if len(first_line) > _MODEL_MESSAGE_CHARS:
        first_line = first_line[: _MODEL_MESSAGE_CHARS - 3] + "..."
    status = response.get("OriginalStatusCode")
    where = f" (status {status})" if status else ""
    return f"the model failed{where}: {first_line or 'no message'}"
