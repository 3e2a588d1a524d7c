"""Batch-transform the held-out split with the trained model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sagepipe.algorithms import transform_accept
from sagepipe.aws_errors import error_code, raise_if_transient
from sagepipe.layout import RunLayout, s3_uri
from sagepipe.naming import RunNames
from sagepipe.observability import logger
from sagepipe.run_state import Prepared, RunInput, TrainingRef, TransformRef
from sagepipe.step_settings import TransformSettings
from sagepipe.transform import create_model_request, create_transform_job_request

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


def start_transform(
    run: RunInput,
    prepared: Prepared,
    training: TrainingRef,
    settings: TransformSettings,
    sagemaker: SageMakerClient,
) -> TransformRef:
    names = RunNames(run.model, run.version, settings.common.resource_prefix)
    layout = RunLayout(run.model, run.run_id)
    try:
        job = sagemaker.describe_training_job(TrainingJobName=training.job_name)
        model_data = job["ModelArtifacts"]["S3ModelArtifacts"]
        trained_at = job.get("TrainingEndTime") or job["CreationTime"]
        if not _model_exists(sagemaker, names.sagemaker_model):
            sagemaker.create_model(
                **create_model_request(
                    names.sagemaker_model, training.image, model_data, settings.role_arn
                )
            )
        output_uri = s3_uri(run.bucket, layout.transform_output_prefix)
        request = create_transform_job_request(
            job_name=names.transform_job,
            model_name=names.sagemaker_model,
            input_uri=prepared.test_features_uri,
            content_type=prepared.content_type,
            output_uri=output_uri,
            instance_type=settings.instance_type,
            accept=transform_accept(prepared.algorithm),
        )
        try:
            sagemaker.create_transform_job(**request)
        except ClientError as error:
            if error_code(error) != "ResourceInUse":
                raise
            logger.info("transform job already exists", extra={"job": names.transform_job})
    except ClientError as error:
        raise_if_transient(error)
        raise
    logger.info("transform started", extra={"job": names.transform_job})
    return TransformRef(
        job_name=names.transform_job,
        model_name=names.sagemaker_model,
        model_data=model_data,
        output_uri=output_uri,
        trained_at=trained_at.isoformat(),
    )


def _model_exists(sagemaker: SageMakerClient, name: str) -> bool:
    try:
        sagemaker.describe_model(ModelName=name)
    except ClientError as error:
        # SageMaker reports a missing model as ValidationException, not a 404.
        if error_code(error) == "ValidationException":
            return False
        raise
    return True
