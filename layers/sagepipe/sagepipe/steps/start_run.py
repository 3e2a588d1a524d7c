"""Turn S3 upload events into state machine executions, exactly one per uploaded object."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from sagepipe.aws_errors import error_code, raise_if_transient
from sagepipe.errors import InputDataError
from sagepipe.layout import is_data_key, model_of_incoming_key
from sagepipe.naming import parse_event_time, validate_model_name, version_id
from sagepipe.observability import logger
from sagepipe.processing import processing_threshold_bytes
from sagepipe.run_state import RunInput
from sagepipe.step_settings import StartRunSettings

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

INVALID_MODEL = "invalid-model"


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str
    version_id: str | None
    size: int
    identity: str  # version id, else sequencer, else etag: what makes this upload unique
    event_time: str


def uploaded_objects(event: dict[str, Any]) -> list[UploadedObject]:
    """S3 notification records -> uploaded objects (keys arrive URL-encoded)."""
    objects = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        version = obj.get("versionId") or None
        objects.append(
            UploadedObject(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version_id=version,
                size=int(obj.get("size", 0)),
                identity=version or obj.get("sequencer") or obj.get("eTag", ""),
                event_time=record["eventTime"],
            )
        )
    return objects


def run_input_for(upload: UploadedObject, settings: StartRunSettings) -> RunInput | None:
    """None for objects that are not data uploads (pipeline.json, other prefixes)."""
    model = model_of_incoming_key(upload.key)
    if model is None or not is_data_key(upload.key):
        return None
    version = version_id(
        parse_event_time(upload.event_time), upload.bucket, upload.key, upload.identity
    )
    try:
        run_id = f"{validate_model_name(model)}-{version}"
    except InputDataError:
        # Still start a run: it fails at its first step and the failure is announced,
        # which tells the user more than a silently ignored upload.
        run_id = f"{INVALID_MODEL}-{version}"
    return RunInput(
        run_id=run_id,
        model=model,
        version=version,
        bucket=upload.bucket,
        key=upload.key,
        version_id=upload.version_id,
        size=upload.size,
        poll_seconds=settings.poll_seconds,
        processing_threshold_bytes=processing_threshold_bytes(
            settings.processing_threshold_mb, upload.key
        ),
    )


def start_runs(
    event: dict[str, Any], settings: StartRunSettings, sfn: SFNClient
) -> list[dict[str, str]]:
    started = []
    for upload in uploaded_objects(event):
        run = run_input_for(upload, settings)
        if run is None:
            logger.info("ignoring object that is not a data upload", extra={"key": upload.key})
            continue
        started.append(_start(run, settings, sfn))
    return started


def _start(run: RunInput, settings: StartRunSettings, sfn: SFNClient) -> dict[str, str]:
    try:
        response = sfn.start_execution(
            stateMachineArn=settings.state_machine_arn,
            name=run.run_id,
            input=json.dumps({"run": run.to_dict()}),
        )
    except ClientError as error:
        if error_code(error) == "ExecutionAlreadyExists":
            logger.info("run already started for this upload", extra={"run_id": run.run_id})
            return {"run_id": run.run_id, "status": "already-started"}
        raise_if_transient(error)
        raise
    logger.info("run started", extra={"run_id": run.run_id, "key": run.key})
    return {"run_id": run.run_id, "status": "started", "execution_arn": response["executionArn"]}
