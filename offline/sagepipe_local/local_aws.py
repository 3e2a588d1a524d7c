"""boto3 clients for the local endpoint, with dummy credentials."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

DEFAULT_REGION: Final = "us-east-1"
# moto's default account: every resource the offline stack creates lives there.
ACCOUNT_ID: Final = "123456789012"
DUMMY_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 2},
    connect_timeout=5,
    read_timeout=900,
    # 127.0.0.1 forces path-style anyway; being explicit keeps `localhost` working too.
    # Bodies go unsigned, as they do over HTTPS: no SHA-256 of every upload.
    s3={"addressing_style": "path", "payload_signing_enabled": False},
)
# One attempt: a retried Invoke would run the handler twice.
_LAMBDA_CONFIG = _CONFIG.merge(Config(retries={"total_max_attempts": 1}, read_timeout=960))

_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str, str, int], Any] = {}
_SESSIONS: dict[str, boto3.Session] = {}


def _client(service_name: str, endpoint_url: str, region: str, config: Config) -> Any:
    """Clients are thread-safe but slow to create (~0.1 s): one per service and endpoint."""
    key = (service_name, endpoint_url, region, id(config))
    with _LOCK:
        if key not in _CLIENTS:
            session = _SESSIONS.get(region)
            if session is None:
                session = boto3.Session(
                    aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
                    region_name=region,
                )
                _SESSIONS[region] = session
            _CLIENTS[key] = session.client(  # type: ignore[call-overload]
                service_name, endpoint_url=endpoint_url, config=config
            )
        return _CLIENTS[key]


def forget_endpoint(endpoint_url: str) -> None:
    """Drop the cached clients of a stopped endpoint (and their pooled connections)."""
    with _LOCK:
        for key in [key for key in _CLIENTS if key[1] == endpoint_url]:
            _CLIENTS.pop(key).close()


def s3_client(endpoint_url: str, region: str = DEFAULT_REGION) -> S3Client:
    s3: S3Client = _client("s3", endpoint_url, region, _CONFIG)
    return s3


def sns_client(endpoint_url: str, region: str = DEFAULT_REGION) -> SNSClient:
    sns: SNSClient = _client("sns", endpoint_url, region, _CONFIG)
    return sns


def sfn_client(endpoint_url: str, region: str = DEFAULT_REGION) -> SFNClient:
    sfn: SFNClient = _client("stepfunctions", endpoint_url, region, _CONFIG)
    return sfn


def lambda_client(endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    # The lambda/iam stubs are not installed (requirements-dev.txt), so these are Any.
    return _client("lambda", endpoint_url, region, _LAMBDA_CONFIG)


def iam_client(endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    return _client("iam", endpoint_url, region, _CONFIG)


def client(service_name: str, endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    """Any service's client (Lambda's never retries an Invoke)."""
    config = _LAMBDA_CONFIG if service_name == "lambda" else _CONFIG
    return _client(service_name, endpoint_url, region, config)
