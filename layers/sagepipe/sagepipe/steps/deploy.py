"""Register the new model version and roll it out to the model's endpoint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sagepipe.aws_errors import error_code, raise_if_transient
from sagepipe.contract import FeatureContract
from sagepipe.deployment import (
    choose_action,
    create_endpoint_config_request,
    update_endpoint_request,
)
from sagepipe.errors import EndpointBusyError
from sagepipe.layout import split_s3_uri
from sagepipe.naming import RunNames
from sagepipe.observability import logger
from sagepipe.registry import LivePointer, ModelRegistry, ModelVersion
from sagepipe.run_state import Deployment, Evaluation, Prepared, RunInput, TransformRef
from sagepipe.step_settings import DeploySettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient


def deploy(
    *,
    run: RunInput,
    prepared: Prepared,
    transform: TransformRef,
    evaluation: Evaluation,
    settings: DeploySettings,
    sagemaker: SageMakerClient,
    s3: S3Client,
) -> Deployment:
    names = RunNames(run.model, run.version, settings.common.resource_prefix)
    registry = ModelRegistry(s3, settings.common.data_bucket)
    # The version record must exist before the endpoint can serve this variant, so that
    # the prediction API can always find the contract of whichever variant answers.
    registry.put_version(
        _version_record(
            run=run,
            prepared=prepared,
            transform=transform,
            evaluation=evaluation,
            names=names,
            s3=s3,
        )
    )
    try:
        _ensure_endpoint_config(sagemaker, names, transform.model_name, settings)
        current = _endpoint_status(sagemaker, names.endpoint)
        action = choose_action(current)
        if action == "wait":
            raise EndpointBusyError(f"endpoint {names.endpoint} is {current}; retrying later")
        if action == "replace":
            # The retry finds it Deleting (wait), then gone (create).
            sagemaker.delete_endpoint(EndpointName=names.endpoint)
            raise EndpointBusyError(f"endpoint {names.endpoint} was Failed and is being deleted")
        if action == "create":
            sagemaker.create_endpoint(
                EndpointName=names.endpoint, EndpointConfigName=names.endpoint_config
            )
        else:
            sagemaker.update_endpoint(
                **update_endpoint_request(names.endpoint, names.endpoint_config)
            )
    except ClientError as error:
        raise_if_transient(error)
        raise
    logger.info("endpoint rollout started", extra={"endpoint": names.endpoint, "action": action})
    return Deployment(
        endpoint_name=names.endpoint,
        endpoint_config_name=names.endpoint_config,
        variant=names.variant,
        version=run.version,
        action=action,
    )


def record_live(run: RunInput, deployment: Deployment, bucket: str, s3: S3Client) -> LivePointer:
    pointer = LivePointer(
        model=run.model,
        version=deployment.version,
        endpoint=deployment.endpoint_name,
        variant=deployment.variant,
        updated_at=datetime.now(UTC).isoformat(),
    )
    ModelRegistry(s3, bucket).put_live(pointer)
    logger.info("live model recorded", extra={"version": pointer.version})
    return pointer


def _version_record(
    *,
    run: RunInput,
    prepared: Prepared,
    transform: TransformRef,
    evaluation: Evaluation,
    names: RunNames,
    s3: S3Client,
) -> ModelVersion:
    bucket, key = split_s3_uri(prepared.schema_uri)
    contract = FeatureContract.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return ModelVersion(
        model=run.model,
        version=run.version,
        run_id=run.run_id,
        trained_at=transform.trained_at,
        algorithm=prepared.algorithm,
        metrics={name: float(value) for name, value in evaluation.metrics.items()},
        contract=contract,
        model_data=transform.model_data,
        sagemaker_model=transform.model_name,
        variant=names.variant,
    )


def _ensure_endpoint_config(
    sagemaker: SageMakerClient, names: RunNames, model_name: str, settings: DeploySettings
) -> None:
    try:
        sagemaker.describe_endpoint_config(EndpointConfigName=names.endpoint_config)
    except ClientError as error:
        if error_code(error) != "ValidationException":
            raise
        sagemaker.create_endpoint_config(
            **create_endpoint_config_request(
                names.endpoint_config,
                model_name,
                names.variant,
                settings.instance_type,
                settings.instance_count,
            )
        )


def _endpoint_status(sagemaker: SageMakerClient, endpoint: str) -> str | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError as error:
        if error_code(error) == "ValidationException":
            return None
        raise
