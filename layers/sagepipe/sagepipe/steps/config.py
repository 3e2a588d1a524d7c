"""A run's pipeline.json, resolved over the stack defaults (no pandas: both preprocessing
paths, the Lambda and the processing job's starter, need it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sagepipe.aws_errors import OBJECT_MISSING_CODES, error_code, raise_if_transient
from sagepipe.layout import pipeline_config_key, s3_uri
from sagepipe.pipeline_config import PipelineConfig, resolve_pipeline_config
from sagepipe.run_state import RunInput

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from sagepipe.pipeline_config import PipelineDefaults


def load_pipeline_config(run: RunInput, defaults: PipelineDefaults, s3: S3Client) -> PipelineConfig:
    key = pipeline_config_key(run.model)
    try:
        raw: bytes | None = s3.get_object(Bucket=run.bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) not in OBJECT_MISSING_CODES:
            raise_if_transient(error)
            raise
        raw = None
    return resolve_pipeline_config(raw, defaults, source=s3_uri(run.bucket, key))
