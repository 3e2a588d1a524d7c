"""Preprocess an uploaded object into training channels and the feature contract."""

from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from s3transfer.manager import TransferConfig

from sagepipe.aws_errors import OBJECT_MISSING_CODES, error_code, raise_if_transient
from sagepipe.errors import InputDataError
from sagepipe.layout import RunLayout, s3_uri
from sagepipe.naming import validate_model_name
from sagepipe.observability import logger
from sagepipe.preprocess import (
    PreprocessSettings,
    prepared_record,
    preprocess_file,
    run_file_uris,
)
from sagepipe.run_state import Prepared, RunInput
from sagepipe.step_settings import PreprocessFunctionSettings
from sagepipe.steps.config import load_pipeline_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def prepare(
    run: RunInput,
    settings: PreprocessFunctionSettings,
    s3: S3Client,
    work_root: Path | None = None,
) -> Prepared:
    validate_model_name(run.model)
    config = load_pipeline_config(run, settings.defaults, s3)
    source_name = s3_uri(run.bucket, run.key)
    layout = RunLayout(model=run.model, run_id=run.run_id)
    with tempfile.TemporaryDirectory(dir=work_root) as work:
        local, out_dir = Path(work) / "input", Path(work) / "out"
        _download(s3, run, local, source_name)
        with _Uploads(s3, run.bucket, layout.root, out_dir) as uploads:
            result = preprocess_file(
                local,
                source_name=source_name,
                model=run.model,
                config=config,
                settings=PreprocessSettings(
                    max_categories=settings.max_categories, min_rows=settings.min_rows
                ),
                out_dir=out_dir,
                on_written=uploads.start,
            )
            uploads.wait()
    logger.info(
        "preprocessed",
        extra={"rows": result.rows, "features": len(result.contract.features)},
    )
    return prepared_record(config, result, run_file_uris(s3_uri(run.bucket, layout.root), result))


# Below s3transfer's multipart threshold its download_file makes one GetObject anyway,
# after a HeadObject and through its thread pool: a plain GetObject is the same transfer
# for about half the time (a 4.9 MB object: 23 -> 14 ms offline). So for uploads: one
# PutObject below it, s3transfer's parts in parallel above it.
MULTIPART_THRESHOLD_BYTES = TransferConfig().multipart_threshold


def _download(s3: S3Client, run: RunInput, local: Path, source_name: str) -> None:
    extra: dict[str, Any] = {"VersionId": run.version_id} if run.version_id else {}
    try:
        if 0 < run.size < MULTIPART_THRESHOLD_BYTES:
            body = s3.get_object(Bucket=run.bucket, Key=run.key, **extra)["Body"]
            with local.open("wb") as file:
                shutil.copyfileobj(body, file, MULTIPART_THRESHOLD_BYTES)
        else:
            s3.download_file(run.bucket, run.key, str(local), ExtraArgs=extra or None)
    except ClientError as error:
        if error_code(error) in OBJECT_MISSING_CODES:
            raise InputDataError(f"{source_name}: the object no longer exists") from error
        raise_if_transient(error)
        raise


# Files upload side by side: the small ones (validation, test, schema, profile) need not
# queue behind the train channel's upload (at 50,000 rows the function's part of a run
# went from 85-94 to 73-75 ms offline, medians of 12, with 4 rather than 1). Multipart
# uploads still go one at a time: s3transfer buffers up to 10 parts of 8 MiB for each,
# and the function's memory setting was measured with one.
UPLOAD_THREADS = 4


class _Uploads:
    """Each finished file starts uploading while the rest is written (at 50,000 rows the
    train channel's upload overlaps the test channel's writing).

    Leaving the block waits for every upload started, so none outlives the files.
    """

    def __init__(self, s3: S3Client, bucket: str, root: str, out_dir: Path) -> None:
        self._s3, self._bucket, self._root, self._out_dir = s3, bucket, root, out_dir
        self._pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="upload")
        self._pending: list[Future[None]] = []
        self._multipart = threading.Lock()

    def __enter__(self) -> _Uploads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, relative: str) -> None:
        self._pending.append(self._pool.submit(self._upload, relative))

    def wait(self) -> None:
        try:
            for upload in self._pending:
                upload.result()
        except ClientError as error:
            raise_if_transient(error)
            raise

    def _upload(self, relative: str) -> None:
        path, key = self._out_dir / relative, f"{self._root}{relative}"
        if path.stat().st_size >= MULTIPART_THRESHOLD_BYTES:
            with self._multipart:
                self._s3.upload_file(str(path), self._bucket, key)  # in parts, in parallel
            return
        with path.open("rb") as body:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
