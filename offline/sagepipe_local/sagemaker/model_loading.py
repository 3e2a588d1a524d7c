"""Turn a CreateModel record into a live predictor: resolve the image, fetch the artifact."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sagepipe_local.sagemaker.algorithms import resolve_algorithm
from sagepipe_local.sagemaker.algorithms.base import (
    Algorithm,
    AlgorithmError,
    Predictor,
    UserError,
)
from sagepipe_local.sagemaker.s3 import ObjectStore, S3AccessError, S3Location


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
    model_request: dict[str, Any], s3: ObjectStore, work_dir: Path, *, threads: int = 1
) -> Predictor:
    archive = read_model_archive(model_request, s3)
    return predictor_from_archive(model_request, archive, work_dir, threads=threads)


def read_model_archive(model_request: dict[str, Any], s3: ObjectStore) -> bytes:
    """The model.tar.gz bytes of a CreateModel record (its image checked first)."""
    container = primary_container(model_request)
    _algorithm_of(container)
    model_data_url = container.get("ModelDataUrl")
    if not model_data_url:
        raise ModelLoadError(f"The model {model_request.get('ModelName')} has no ModelDataUrl")
    try:
        return s3.read(S3Location.parse(model_data_url))
    except S3AccessError as error:
        raise ModelLoadError(
            str(error), transient=error.transient, missing=error.missing
        ) from error
    except ValueError as error:
        raise ModelLoadError(str(error)) from error


def predictor_from_archive(
    model_request: dict[str, Any], archive: bytes, work_dir: Path, *, threads: int = 1
) -> Predictor:
    """The model served from its model.tar.gz bytes, as the image's algorithm loads it."""
    container = primary_container(model_request)
    algorithm = _algorithm_of(container)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-", dir=work_dir) as model_dir:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
                tar.extractall(model_dir, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise ModelLoadError(
                f"{container.get('ModelDataUrl')} is not a readable model.tar.gz: {error}"
            ) from error
        try:
            return algorithm.load(Path(model_dir), threads=threads)
        except AlgorithmError as error:
            raise ModelLoadError(str(error)) from error


def _algorithm_of(container: dict[str, Any]) -> Algorithm:
    try:
        return resolve_algorithm(container.get("Image", ""))
    except UserError as error:
        raise ModelLoadError(str(error)) from error
