"""boto3 clients with the retry policy every function uses.

Clients honour the standard AWS SDK settings, including AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_<SERVICE>, which is how the offline stack reaches its local services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5)
# Over HTTPS botocore already sends bodies unsigned (TLS and the CRC32 checksum protect
# them); saying so keeps a plain-HTTP endpoint, such as the offline stack's, from
# SHA-256-hashing every upload as well (~2 ms for a 4 MB channel).
S3_CONFIG = RETRY_CONFIG.merge(Config(s3={"payload_signing_enabled": False}))


def s3_client() -> S3Client:
    return boto3.client("s3", config=S3_CONFIG)


def sagemaker_client() -> SageMakerClient:
    return boto3.client("sagemaker", config=RETRY_CONFIG)


def sagemaker_runtime_client() -> SageMakerRuntimeClient:
    # One retry at most, each bounded, so that an unresponsive endpoint becomes our 503
    # well inside the function's 28 s timeout and API Gateway's 29 s.
    config = Config(
        retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=10
    )
    return boto3.client("sagemaker-runtime", config=config)


def sfn_client() -> SFNClient:
    return boto3.client("stepfunctions", config=RETRY_CONFIG)


def sns_client() -> SNSClient:
    return boto3.client("sns", config=RETRY_CONFIG)
