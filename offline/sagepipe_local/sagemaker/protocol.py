"""The two wire protocols: SageMaker (JSON 1.1, X-Amz-Target) and the runtime (rest-json)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from sagepipe_local.sagemaker.errors import ApiError, serialization_exception

# The handler of one control-plane operation: request members in, response members out.
Operation = Callable[[dict[str, Any]], dict[str, Any]]

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."
_INVOCATIONS_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")


def sagemaker_operation(environ: dict[str, Any]) -> str | None:
    """`CreateTrainingJob` for `X-Amz-Target: SageMaker.CreateTrainingJob`, else None."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if not target.startswith(TARGET_PREFIX):
        return None
    return target[len(TARGET_PREFIX) :]


def invocation_endpoint(environ: dict[str, Any]) -> str | None:
    """The endpoint name of `POST /endpoints/<name>/invocations`, else None."""
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    match = _INVOCATIONS_PATH.match(str(environ.get("PATH_INFO", "")))
    if match is None:
        return None
    return unquote(match.group("name"))


def request_id() -> str:
    return str(uuid.uuid4())


def parse_json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise serialization_exception(f"the request body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise serialization_exception("the request body must be a JSON object")
    return body


def json_response(payload: dict[str, Any]) -> Response:
    return Response(
        json.dumps(payload),
        status=200,
        headers={"Content-Type": JSON_CONTENT_TYPE, "x-amzn-RequestId": request_id()},
    )


def json_error_response(error: ApiError) -> Response:
    body = {"__type": error.code, "message": error.message, **error.fields}
    return Response(
        json.dumps(body),
        status=error.status,
        headers={"Content-Type": JSON_CONTENT_TYPE, "x-amzn-RequestId": request_id()},
    )


def rest_error_response(error: ApiError) -> Response:
    body = {"ErrorCode": error.code, "Message": error.message, **error.fields}
    return Response(
        json.dumps(body),
        status=error.status,
        headers={
            "Content-Type": "application/json",
            "x-amzn-ErrorType": error.code,
            "x-amzn-RequestId": request_id(),
        },
    )


@dataclass(frozen=True)
class Invocation:
    """An InvokeEndpoint request as the model container would see it."""

    endpoint_name: str
    body: bytes
    content_type: str | None
    accept: str | None
    target_variant: str | None


@dataclass(frozen=True)
class InvocationResult:
    body: bytes
    content_type: str
    variant: str


def parse_invocation(request: Request, endpoint_name: str) -> Invocation:
    return Invocation(
        endpoint_name=endpoint_name,
        body=request.get_data(cache=False),
        content_type=request.headers.get("Content-Type"),
        accept=request.headers.get("Accept"),
        target_variant=request.headers.get("X-Amzn-SageMaker-Target-Variant"),
    )


def invocation_response(result: InvocationResult) -> Response:
    return Response(
        result.body,
        status=200,
        headers={
            "Content-Type": result.content_type,
            "x-Amzn-Invoked-Production-Variant": result.variant,
            "x-amzn-RequestId": request_id(),
        },
    )
