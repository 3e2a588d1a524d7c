"""Turn a CreateModel record into a live predictor: resolve the image, fetch the artifact."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sagepipe_local.sagemaker.algorithms import resolve_algorithm
from sagepipe_local.sagemaker.algorithms.base import AlgorithmError, Predictor, UserError
from sagepipe_local.sagemaker.s3 import S3AccessError, S3Location, S3Store


class ModelLoadError(Exception):
    """The model cannot serve.

    `transient`: S3 could not be reached, retrying may help. `missing`: the artifact's
    bucket or key does not exist, which right after a restart may only mean that S3 is
    still being restored.
    """

    def __init__(self, message: str, *, transient: bool = False, missing: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.missing = missing


def primary_container(model_request: dict[str, Any]) -> dict[str, Any]:
    container = model_request.get("PrimaryContainer")
    if container is None:
        containers = model_request.get("Containers") or [{}]
        container = containers[0]
    result: dict[str, Any] = container
    return result


def load_predictor(
    model_request: dict[str, Any], s3: S3Store, work_dir: Path, *, threads: int = 1
) -> Predictor:
    container = primary_container(model_request)
    image = container.get("Image", "")
    try:
        algorithm = resolve_algorithm(image)
    except UserError as error:
        raise ModelLoadError(str(error)) from error
    model_data_url = container.get("ModelDataUrl")
    if not model_data_url:
        raise ModelLoadError(f"The model {model_request.get('ModelName')} has no ModelDataUrl")
    try:
        archive = s3.read(S3Location.parse(model_data_url))
    except S3AccessError as error:
        raise ModelLoadError(
            str(error), transient=error.transient, missing=error.missing
        ) from error
    except ValueError as error:
        raise ModelLoadError(str(error)) from error
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-", dir=work_dir) as model_dir:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
                tar.extractall(model_dir, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise ModelLoadError(
                f"{model_data_url} is not a readable model.tar.gz: {error}"
            ) from error
        try:
            return algorithm.load(Path(model_dir), threads=threads)
        except AlgorithmError as error:
            raise ModelLoadError(str(error)) from error
