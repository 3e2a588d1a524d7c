"""start_processing: a large upload -> code bundle, input copy, job.json, processing job."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sagepipe.errors import ConfigError, InputDataError
from sagepipe.processing import SKLEARN_IMAGE_TAG, ProcessingJobDescription
from sagepipe.processing_bundle import MANIFEST_NAME, CodeBundle

from .conftest import (
    BUCKET,
    RUN_ID,
    RUN_ROOT,
    FakeLambdaContext,
    HandlerLoader,
    load_event,
)

DATA_KEY = "incoming/housing/data.csv"
CONFIG_KEY = "incoming/housing/pipeline.json"
JOB_NAME = f"{RUN_ID}-pp"
IMAGE = f"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:{SKLEARN_IMAGE_TAG}"
FIRST = b"rooms,price\n1,10\n2,20\n"
SECOND = b"rooms,price\n9,90\n"


@pytest.fixture
def versioned(s3: Any) -> Any:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def _event(version_id: str | None) -> dict[str, Any]:
    event = load_event("sfn_start_processing.json")
    event["run"]["version_id"] = version_id
    return event


def _upload(s3: Any, body: bytes) -> str:
    version: str = s3.put_object(Bucket=BUCKET, Key=DATA_KEY, Body=body)["VersionId"]
    return version


def _keys(s3: Any, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"] for item in listed}


def _read(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def test_starts_the_job_on_a_copy_of_the_uploaded_version(
    load_handler: HandlerLoader,
    versioned: Any,
    sagemaker: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    s3 = versioned
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=json.dumps({"target": "price"}).encode())
    first = _upload(s3, FIRST)
    _upload(s3, SECOND)  # a newer upload of the same key: the run is about the first
    handler = load_handler("start_processing")

    result = handler.lambda_handler(_event(first), lambda_context)

    assert result == {
        "job_name": JOB_NAME,
        "image": IMAGE,
        # 2 GiB of CSV needs ~9.3 GiB at peak: the 16 GiB type is the smallest that fits.
        "instance_type": "ml.m5.xlarge",
        "prepared_uri": f"s3://{BUCKET}/{RUN_ROOT}prepared.json",
    }
    assert _read(s3, f"{RUN_ROOT}processing/data/data.csv") == FIRST
    description = ProcessingJobDescription.from_json(
        _read(s3, f"{RUN_ROOT}processing/job/job.json").decode()
    )
    assert description.model == "housing"
    assert description.data_file == "data.csv"
    assert description.source_name == f"s3://{BUCKET}/{DATA_KEY}"
    assert description.run_root_uri == f"s3://{BUCKET}/{RUN_ROOT}"
    assert description.config["target"] == "price"
    assert (description.max_categories, description.min_rows) == (20, 20)

    bundle = CodeBundle.of_package()
    code_prefix = f"code/processing/{bundle.digest}/"
    uploaded = _keys(s3, code_prefix)
    assert f"{code_prefix}sagepipe/processing_job.py" in uploaded
    assert f"{code_prefix}sagepipe/processing_requirements.txt" in uploaded
    assert f"{code_prefix}{MANIFEST_NAME}" in uploaded
    assert not any("__pycache__" in key for key in uploaded)

    job = sagemaker.describe_processing_job(ProcessingJobName=JOB_NAME)
    app = job["AppSpecification"]
    assert app["ImageUri"] == IMAGE
    assert app["ContainerEntrypoint"] == ["python3", "-m", "sagepipe.processing_bootstrap"]
    inputs = {item["InputName"]: item["S3Input"] for item in job["ProcessingInputs"]}
    assert inputs["code"]["S3Uri"] == f"s3://{BUCKET}/{code_prefix}"
    assert inputs["data"]["S3Uri"] == f"s3://{BUCKET}/{RUN_ROOT}processing/data/"
    assert inputs["job"]["S3Uri"] == f"s3://{BUCKET}/{RUN_ROOT}processing/job/"
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == f"s3://{BUCKET}/{RUN_ROOT}".rstrip("/")
    assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/output/run"
    assert job["RoleArn"].endswith(":role/sagepipe-sagemaker")


def test_the_code_bundle_is_uploaded_once(
    load_handler: HandlerLoader,
    versioned: Any,
    sagemaker: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    s3 = versioned
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=json.dumps({"target": "price"}).encode())
    version = _upload(s3, FIRST)
    handler = load_handler("start_processing")
    handler.lambda_handler(_event(version), lambda_context)
    second = _event(version)
    second["run"]["version"] = "20261121093000-1a2b3c4d"
    second["run"]["run_id"] = "housing-20261121093000-1a2b3c4d"

    handler.lambda_handler(second, lambda_context)

    manifest = f"code/processing/{CodeBundle.of_package().digest}/{MANIFEST_NAME}"
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=manifest).get("Versions", [])
    assert len(versions) == 1


def test_a_configuration_error_fails_before_any_job_starts(
    load_handler: HandlerLoader,
    versioned: Any,
    sagemaker: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    version = _upload(versioned, FIRST)  # no pipeline.json and no DEFAULT_TARGET
    handler = load_handler("start_processing")

    with pytest.raises(ConfigError, match="target"):
        handler.lambda_handler(_event(version), lambda_context)

    assert sagemaker.list_processing_jobs()["ProcessingJobSummaries"] == []
    assert _keys(versioned, RUN_ROOT) == set()


def test_a_vanished_object_version_is_an_input_error(
    load_handler: HandlerLoader,
    versioned: Any,
    sagemaker: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    version = _upload(versioned, FIRST)
    versioned.delete_object(Bucket=BUCKET, Key=DATA_KEY, VersionId=version)
    handler = load_handler("start_processing", DEFAULT_TARGET="price")

    with pytest.raises(InputDataError, match="no longer exists"):
        handler.lambda_handler(_event(version), lambda_context)


def test_an_existing_job_is_not_an_error(
    load_handler: HandlerLoader,
    versioned: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    """A retried invocation finds the job its first attempt created (ResourceInUse)."""
    version = _upload(versioned, FIRST)
    handler = load_handler("start_processing", DEFAULT_TARGET="price")
    client = handler.sagemaker()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "create_processing_job",
            service_error_code="ResourceInUse",
            service_message=f"Job {JOB_NAME} already exists",
            http_status_code=400,
        )
        result = handler.lambda_handler(_event(version), lambda_context)
        stubber.assert_no_pending_responses()
    assert result["job_name"] == JOB_NAME


def test_other_create_errors_propagate(
    load_handler: HandlerLoader,
    versioned: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    version = _upload(versioned, FIRST)
    handler = load_handler("start_processing", DEFAULT_TARGET="price")
    client = handler.sagemaker()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "create_processing_job",
            service_error_code="ResourceLimitExceeded",
            service_message="The account-level service limit for ml.m5.xlarge is 0",
            http_status_code=400,
        )
        with pytest.raises(ClientError, match="ResourceLimitExceeded"):
            handler.lambda_handler(_event(version), lambda_context)
