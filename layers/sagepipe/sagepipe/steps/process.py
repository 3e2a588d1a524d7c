"""Preprocess an input too large for the preprocess Lambda in a SageMaker Processing job.

StartProcessing resolves the run's pipeline.json (a configuration error fails the run
before any instance starts), makes sure the code bundle is in S3, copies the uploaded
object version under the run (a processing input cannot name an object version), writes
job.json and creates the job. CollectProcessing reads the Prepared record the job wrote,
which is what the preprocess Lambda would have returned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from sagepipe.aws_errors import OBJECT_MISSING_CODES, error_code, raise_if_transient
from sagepipe.errors import InputDataError, ProcessingOutputError
from sagepipe.layout import RunLayout, processing_code_prefix, s3_uri, split_s3_uri
from sagepipe.naming import RunNames, validate_model_name
from sagepipe.observability import logger
from sagepipe.processing import (
    JOB_FILE_NAME,
    MIB,
    ProcessingJobDescription,
    ProcessingJobSpec,
    create_processing_job_request,
    instance_type_for,
    is_gzip_key,
    processing_image_uri,
    volume_size_gb,
)
from sagepipe.processing_bundle import MANIFEST_NAME, CodeBundle
from sagepipe.run_state import Prepared, ProcessingRef, RunInput
from sagepipe.step_settings import StartProcessingSettings
from sagepipe.steps.config import load_pipeline_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

# Server-side copy of the input: parts of 256 MiB, several at a time.
_COPY_CONFIG = TransferConfig(
    multipart_threshold=256 * MIB, multipart_chunksize=256 * MIB, max_concurrency=8
)


def start_processing(
    run: RunInput,
    settings: StartProcessingSettings,
    s3: S3Client,
    sagemaker: SageMakerClient,
    bundle: CodeBundle | None = None,
) -> ProcessingRef:
    validate_model_name(run.model)
    preprocess = settings.preprocess
    config = load_pipeline_config(run, preprocess.defaults, s3)
    names = RunNames(run.model, run.version, settings.common.resource_prefix)
    layout = RunLayout(run.model, run.run_id)
    gzipped = is_gzip_key(run.key)
    instance_type = instance_type_for(run.size, gzipped=gzipped, configured=settings.instance_type)
    code_prefix = ensure_code_bundle(s3, run.bucket, bundle or CodeBundle.of_package())
    data_file = _copy_input(s3, run, layout)
    description = ProcessingJobDescription(
        model=run.model,
        source_name=s3_uri(run.bucket, run.key),
        data_file=data_file,
        run_root_uri=s3_uri(run.bucket, layout.root),
        config=config.model_dump(),
        max_categories=preprocess.max_categories,
        min_rows=preprocess.min_rows,
    )
    s3.put_object(
        Bucket=run.bucket,
        Key=f"{layout.processing_job_prefix}{JOB_FILE_NAME}",
        Body=description.to_json().encode("utf-8"),
        ContentType="application/json",
    )
    region = sagemaker.meta.region_name
    spec = ProcessingJobSpec(
        job_name=names.processing_job,
        region=region,
        role_arn=settings.role_arn,
        instance_type=instance_type,
        volume_size_gb=volume_size_gb(run.size, gzipped=gzipped),
        max_runtime_seconds=settings.max_runtime_seconds,
        code_uri=s3_uri(run.bucket, code_prefix),
        data_uri=s3_uri(run.bucket, layout.processing_data_prefix),
        job_uri=s3_uri(run.bucket, layout.processing_job_prefix),
        output_uri=s3_uri(run.bucket, layout.root).rstrip("/"),
        tags=(("sagepipe:model", run.model), ("sagepipe:run", run.run_id)),
    )
    try:
        sagemaker.create_processing_job(**create_processing_job_request(spec))
    except ClientError as error:
        # A retried Lambda may find the job its first attempt created.
        if error_code(error) != "ResourceInUse":
            raise_if_transient(error)
            raise
        logger.info("processing job already exists", extra={"job": spec.job_name})
    logger.info(
        "processing started",
        extra={"job": spec.job_name, "instance_type": instance_type, "size": run.size},
    )
    return ProcessingRef(
        job_name=spec.job_name,
        image=processing_image_uri(region),
        instance_type=instance_type,
        prepared_uri=s3_uri(run.bucket, layout.prepared_key),
    )


def ensure_code_bundle(s3: S3Client, bucket: str, bundle: CodeBundle) -> str:
    """Upload the bundle unless its content-named prefix already has it; the prefix."""
    prefix = processing_code_prefix(bundle.digest)
    try:
        s3.head_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_NAME}")
    except ClientError as error:
        if error_code(error) not in OBJECT_MISSING_CODES:
            raise_if_transient(error)
            raise
    else:
        return prefix
    for name, content in bundle.files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=content)
    # Last: a bundle with a manifest is complete.
    s3.put_object(
        Bucket=bucket,
        Key=f"{prefix}{MANIFEST_NAME}",
        Body=bundle.manifest(),
        ContentType="application/json",
    )
    logger.info("code bundle uploaded", extra={"prefix": prefix, "files": len(bundle.files)})
    return prefix


def _copy_input(s3: S3Client, run: RunInput, layout: RunLayout) -> str:
    """Copy exactly the uploaded version under the run; its file name in the job."""
    file_name = run.key.rsplit("/", 1)[-1]
    source: dict[str, Any] = {"Bucket": run.bucket, "Key": run.key}
    if run.version_id:
        source["VersionId"] = run.version_id
    try:
        s3.copy(
            source,  # type: ignore[arg-type]
            run.bucket,
            f"{layout.processing_data_prefix}{file_name}",
            # The copy gets no tags: copying the user's tags would need tagging rights.
            ExtraArgs={"TaggingDirective": "REPLACE"},
            Config=_COPY_CONFIG,
        )
    except ClientError as error:
        if error_code(error) in OBJECT_MISSING_CODES:
            raise InputDataError(
                f"{s3_uri(run.bucket, run.key)}: the object no longer exists"
            ) from error
        raise_if_transient(error)
        raise
    return file_name


def collect_processing(run: RunInput, processing: ProcessingRef, s3: S3Client) -> Prepared:
    """The Prepared record the processing job wrote (prepared.json), checked."""
    layout = RunLayout(run.model, run.run_id)
    uri = processing.prepared_uri
    bucket, key = split_s3_uri(uri)
    if (bucket, key) != (run.bucket, layout.prepared_key):
        raise ProcessingOutputError(f"{uri} is not this run's prepared.json")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in OBJECT_MISSING_CODES:
            raise ProcessingOutputError(
                f"the processing job {processing.job_name} completed without writing {uri}"
            ) from error
        raise_if_transient(error)
        raise
    try:
        prepared = Prepared.from_dict(json.loads(body))
    except (ValueError, TypeError) as error:
        raise ProcessingOutputError(f"{uri} is not a Prepared record: {error}") from error
    root = s3_uri(run.bucket, layout.root)
    files = (
        prepared.train_uri,
        prepared.validation_uri,
        prepared.test_features_uri,
        prepared.test_labels_uri,
        prepared.schema_uri,
        prepared.profile_uri,
    )
    outside = [name for name in files if name is not None and not name.startswith(root)]
    if outside:
        raise ProcessingOutputError(f"{uri} names files outside {root}: {', '.join(outside)}")
    logger.info(
        "processing output collected",
        extra={"job": processing.job_name, "rows": prepared.rows},
    )
    return prepared
