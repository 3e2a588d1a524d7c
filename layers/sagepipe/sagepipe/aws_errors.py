"""Classifying AWS SDK errors by their error code (never by message text).

Kept apart from `aws` so that modules needing only these helpers do not import boto3.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sagepipe.errors import TransientError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
    }
)

# How S3 says an object (or its key) is not there: GetObject, HeadObject and transfers.
OBJECT_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


def error_code(error: ClientError) -> str:
    code: Any = error.response.get("Error", {}).get("Code", "")
    return str(code)


def raise_if_transient(error: ClientError) -> None:
    """Re-raise a throttling/server error as TransientError so Step Functions retries it."""
    if error_code(error) in THROTTLING_CODES:
        raise TransientError(f"AWS is throttling or unavailable: {error}") from error
