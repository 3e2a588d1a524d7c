"""CreateModel and CreateTransformJob requests, and the transform output key."""

from __future__ import annotations

from sagepipe.transform import (
    MAX_PAYLOAD_MB,
    create_model_request,
    create_transform_job_request,
    transform_output_key,
)

ROOT = "runs/housing/housing-20261120093000-1a2b3c4d/"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def test_create_model_request() -> None:
    assert create_model_request(
        "housing-20261120093000-1a2b3c4d-m",
        IMAGE,
        f"s3://b/{ROOT}training/job/output/model.tar.gz",
        "arn:aws:iam::123456789012:role/sagemaker",
    ) == {
        "ModelName": "housing-20261120093000-1a2b3c4d-m",
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataUrl": f"s3://b/{ROOT}training/job/output/model.tar.gz",
        },
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/sagemaker",
    }


def test_create_transform_job_request() -> None:
    request = create_transform_job_request(
        job_name="housing-20261120093000-1a2b3c4d-tf",
        model_name="housing-20261120093000-1a2b3c4d-m",
        input_uri=f"s3://b/{ROOT}data/test/features.csv",
        content_type="text/libsvm",
        output_uri=f"s3://b/{ROOT}transform/",
        instance_type="ml.m5.large",
        accept="text/csv",
    )
    assert request == {
        "TransformJobName": "housing-20261120093000-1a2b3c4d-tf",
        "ModelName": "housing-20261120093000-1a2b3c4d-m",
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://b/{ROOT}data/test/features.csv",
                }
            },
            "ContentType": "text/libsvm",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://b/{ROOT}transform/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    assert MAX_PAYLOAD_MB == 6


def test_csv_content_type_is_passed_through() -> None:
    request = create_transform_job_request(
        job_name="j",
        model_name="m",
        input_uri="s3://b/f.csv",
        content_type="text/csv",
        output_uri="s3://b/out/",
        instance_type="ml.c5.large",
        accept="application/jsonlines",
    )
    assert request["TransformInput"]["ContentType"] == "text/csv"
    assert request["TransformOutput"]["Accept"] == "application/jsonlines"
    assert request["TransformResources"]["InstanceType"] == "ml.c5.large"


def test_transform_output_key() -> None:
    assert transform_output_key(f"{ROOT}transform/", f"{ROOT}data/test/features.csv") == (
        f"{ROOT}transform/features.csv.out"
    )
    assert transform_output_key("out/", "features.csv") == "out/features.csv.out"


def test_each_algorithm_is_asked_for_an_output_it_has() -> None:
    from sagepipe.algorithms import endpoint_accept, transform_accept

    # Linear Learner has no text/csv output (JSON, JSON Lines, RecordIO only).
    assert transform_accept("xgboost") == "text/csv"
    assert endpoint_accept("xgboost") == "text/csv"
    assert transform_accept("linear-learner") == "application/jsonlines"
    assert endpoint_accept("linear-learner") == "application/json"
