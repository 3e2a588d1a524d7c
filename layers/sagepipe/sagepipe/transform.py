"""CreateModel and CreateTransformJob requests for scoring the held-out split."""

from __future__ import annotations

from typing import Any

# InvokeEndpoint and batch transform both cap a request at 6 MB.
MAX_PAYLOAD_MB = 6


def create_model_request(
    model_name: str, image: str, model_data_uri: str, role_arn: str
) -> dict[str, Any]:
    return {
        "ModelName": model_name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_uri},
        "ExecutionRoleArn": role_arn,
    }


def create_transform_job_request(
    *,
    job_name: str,
    model_name: str,
    input_uri: str,
    content_type: str,
    output_uri: str,
    instance_type: str,
    accept: str,
) -> dict[str, Any]:
    """One output line per input line, in order (SplitType/AssembleWith Line)."""
    return {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": content_type,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": output_uri,
            "Accept": accept,
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
    }


def transform_output_key(output_prefix: str, input_key: str) -> str:
    """Batch transform writes `<input object name>.out` under the output path."""
    return f"{output_prefix}{input_key.rsplit('/', 1)[-1]}.out"
