"""Invoke a deployed function from inside the offline stack, as AWS services do.

Step Functions' Lambda tasks and API Gateway's Lambda integration call Lambda from
inside AWS. Offline both run in the stack process beside moto, so they go to moto's
Lambda backend directly (the function and qualifier lookup, then the function's worker)
instead of sending a signed HTTP request to the stack's own endpoint: that round trip
cost about 5 ms a call, and a pipeline run makes a dozen of them, a prediction over the
local API one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from sagepipe_local import local_aws

# Larger responses fail as the Lambda API (and moto's) fails them.
RESPONSE_LIMIT_BYTES: Final = 6_000_000
_TOO_LARGE: Final = {
    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    "errorType": "Function.ResponseSizeTooLarge",
}
UNHANDLED: Final = "Unhandled"


@dataclass(frozen=True)
class Invocation:
    payload: bytes
    function_error: str | None  # X-Amz-Function-Error, None on success
    executed_version: str


def invoke_in_process(
    function_name: str, payload: bytes, *, region: str, qualifier: str | None = None
) -> Invocation | None:
    """A RequestResponse invocation; None when moto knows no such function (or alias),
    so that the caller asks the Lambda API, which answers with the service's error."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.utils import get_backend

    account_id, region = _account_and_region(function_name, region)
    try:
        function = get_backend(account_id, region).get_function(function_name, qualifier)
    except LambdaClientError:
        return None
    response_headers: dict[str, Any] = {}
    body = function.invoke(payload.decode("utf-8"), {}, response_headers)
    result = body if isinstance(body, bytes) else str(body).encode("utf-8")
    error = response_headers.get("x-amz-function-error")
    if len(result) > RESPONSE_LIMIT_BYTES:
        result, error = json.dumps(_TOO_LARGE).encode("utf-8"), UNHANDLED
    return Invocation(
        payload=result,
        function_error=str(error) if error else None,
        executed_version=str(function.version),
    )


def _account_and_region(function_name: str, region: str) -> tuple[str, str]:
    """From an ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]), else the
    stack's account and the caller's region."""
    parts = function_name.split(":")
    if function_name.startswith("arn:") and len(parts) >= 7:
        return parts[4], parts[3]
    return local_aws.ACCOUNT_ID, region
