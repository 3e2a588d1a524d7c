"""Errors as the SageMaker APIs return them: an error code, an HTTP status, a message.

Control-plane errors use the JSON 1.1 protocol (`__type`); runtime errors use
rest-json (`x-amzn-ErrorType`). Both carry `code`, which botocore turns into
`ClientError.response["Error"]["Code"]`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer. `fields` are extra members of the modelled error shape."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


# Control plane (SageMaker, JSON 1.1)


def validation_exception(message: str) -> ApiError:
    """Missing or duplicate resources and bad parameters: SageMaker answers this, not 404."""
    return ApiError("ValidationException", message)


def resource_in_use(message: str) -> ApiError:
    return ApiError("ResourceInUse", message)


def resource_not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFound", message)


def unknown_operation(operation: str) -> ApiError:
    return ApiError(
        "UnknownOperationException",
        f"The offline SageMaker emulator does not implement {operation}",
    )


def serialization_exception(message: str) -> ApiError:
    return ApiError("SerializationException", message)


# Runtime (SageMaker Runtime, rest-json)


def validation_error(message: str) -> ApiError:
    return ApiError("ValidationError", message)


def model_error(
    message: str, original_status: int, original_message: str, log_stream_arn: str
) -> ApiError:
    return ApiError(
        "ModelError",
        message,
        status=424,
        OriginalStatusCode=original_status,
        OriginalMessage=original_message,
        LogStreamArn=log_stream_arn,
    )


def service_unavailable(message: str) -> ApiError:
    return ApiError("ServiceUnavailable", message, status=503)


def internal_failure(message: str) -> ApiError:
    return ApiError("InternalFailure", message, status=500)


def model_not_ready(message: str) -> ApiError:
    return ApiError("ModelNotReadyException", message, status=429)
