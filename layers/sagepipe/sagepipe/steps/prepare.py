"""Preprocess an uploaded object into training channels and the feature contract."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sagepipe.aws_errors import error_code, raise_if_transient
from sagepipe.errors import InputDataError
from sagepipe.layout import RunLayout, pipeline_config_key, s3_uri
from sagepipe.naming import validate_model_name
from sagepipe.observability import logger
from sagepipe.pipeline_config import PipelineConfig, resolve_pipeline_config
from sagepipe.preprocess import PreparedRun, PreprocessSettings, preprocess_file
from sagepipe.run_state import Prepared, RunInput
from sagepipe.settings import PreprocessFunctionSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def load_pipeline_config(
    run: RunInput, settings: PreprocessFunctionSettings, s3: S3Client
) -> PipelineConfig:
    key = pipeline_config_key(run.model)
    try:
        raw: bytes | None = s3.get_object(Bucket=run.bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) not in _MISSING:
            raise_if_transient(error)
            raise
        raw = None
    return resolve_pipeline_config(raw, settings.defaults, source=s3_uri(run.bucket, key))


def prepare(
    run: RunInput,
    settings: PreprocessFunctionSettings,
    s3: S3Client,
    work_root: Path | None = None,
) -> Prepared:
    validate_model_name(run.model)
    config = load_pipeline_config(run, settings, s3)
    source_name = s3_uri(run.bucket, run.key)
    layout = RunLayout(model=run.model, run_id=run.run_id)
    with tempfile.TemporaryDirectory(dir=work_root) as work:
        local = Path(work) / "input"
        _download(s3, run, local, source_name)
        result = preprocess_file(
            local,
            source_name=source_name,
            model=run.model,
            config=config,
            settings=PreprocessSettings(
                max_categories=settings.max_categories, min_rows=settings.min_rows
            ),
            out_dir=Path(work) / "out",
        )
        uris = _upload(s3, run.bucket, layout, Path(work) / "out", result)
    logger.info(
        "preprocessed",
        extra={"rows": result.rows, "features": len(result.contract.features)},
    )
    return Prepared(
        config=config.model_dump(),
        algorithm=config.algorithm,
        content_type=result.contract.content_type,
        train_uri=uris["train"],
        validation_uri=uris.get("validation"),
        test_features_uri=uris["test_features"],
        test_labels_uri=uris["test_labels"],
        schema_uri=uris["schema"],
        profile_uri=uris["profile"],
        rows=dict(result.rows),
        feature_count=len(result.contract.features),
        train_target_mean=float(result.profile["train_target_mean"]),
        dropped=[{"name": d.name, "reason": d.reason} for d in result.contract.dropped],
    )


def _download(s3: S3Client, run: RunInput, local: Path, source_name: str) -> None:
    extra: dict[str, Any] = {"VersionId": run.version_id} if run.version_id else {}
    try:
        s3.download_file(run.bucket, run.key, str(local), ExtraArgs=extra or None)
    except ClientError as error:
        if error_code(error) in _MISSING:
            raise InputDataError(f"{source_name}: the object no longer exists") from error
        raise_if_transient(error)
        raise


def _upload(
    s3: S3Client, bucket: str, layout: RunLayout, out_dir: Path, result: PreparedRun
) -> dict[str, str]:
    uris = {}
    for channel, relative in result.files.items():
        key = f"{layout.root}{relative}"
        s3.upload_file(str(out_dir / relative), bucket, key)
        uris[channel] = s3_uri(bucket, key)
    return uris
