"""Start the SageMaker training job of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sagepipe.aws_errors import error_code, raise_if_transient
from sagepipe.layout import RunLayout, s3_uri
from sagepipe.naming import RunNames
from sagepipe.observability import logger
from sagepipe.pipeline_config import PipelineConfig
from sagepipe.run_state import Prepared, RunInput, TrainingRef
from sagepipe.step_settings import TrainingSettings
from sagepipe.training import (
    TrainingJobSpec,
    create_training_job_request,
    hyperparameters,
    image_uri,
)

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient


def start_training(
    run: RunInput, prepared: Prepared, settings: TrainingSettings, sagemaker: SageMakerClient
) -> TrainingRef:
    config = PipelineConfig.model_validate(prepared.config)
    names = RunNames(run.model, run.version, settings.common.resource_prefix)
    layout = RunLayout(run.model, run.run_id)
    region = sagemaker.meta.region_name
    spec = TrainingJobSpec(
        job_name=names.training_job,
        algorithm=config.algorithm,
        region=region,
        role_arn=settings.role_arn,
        content_type=prepared.content_type,
        train_uri=prepared.train_uri,
        validation_uri=prepared.validation_uri,
        output_uri=s3_uri(run.bucket, layout.training_output_prefix),
        hyperparameters=hyperparameters(config, prepared.feature_count),
        instance_type=settings.instance_type,
        max_runtime_seconds=settings.max_runtime_seconds,
        use_spot=settings.use_spot,
        checkpoint_uri=s3_uri(run.bucket, f"{layout.root}checkpoints/"),
        tags=(("sagepipe:model", run.model), ("sagepipe:run", run.run_id)),
    )
    try:
        sagemaker.create_training_job(**create_training_job_request(spec))
    except ClientError as error:
        # A retried Lambda may find the job its first attempt created.
        if error_code(error) != "ResourceInUse":
            raise_if_transient(error)
            raise
        logger.info("training job already exists", extra={"job": spec.job_name})
    logger.info("training started", extra={"job": spec.job_name, "algorithm": config.algorithm})
    return TrainingRef(job_name=spec.job_name, image=image_uri(config.algorithm, region))
