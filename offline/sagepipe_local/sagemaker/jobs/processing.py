"""CreateProcessingJob: inputs from S3, the container's command as a local process, outputs to S3.

A processing container is emulated by a subprocess on this machine:

- the job's own /opt/ml tree is a scratch directory; every `/opt/ml` path in
  ContainerEntrypoint, ContainerArguments and Environment values is rewritten to it
  (`/opt/ml/processing/input/data` -> `<scratch>/opt-ml/processing/input/data`), which
  is where the ProcessingInputs are downloaded and the ProcessingOutputs read from;
- `python`, `python3` or `python3.X` as the program is this venv's interpreter (the
  only images accepted are SageMaker's scikit-learn images, whose Python is 3.12 like
  the venv); any other program runs as found on PATH;
- the environment is a small base (PATH, HOME, locale) plus the request's Environment,
  without the emulator's own AWS settings;
- exit code 0 -> outputs uploaded (S3UploadMode EndOfJob) -> Completed; otherwise
  Failed with "AlgorithmError: ... exited with code N: <end of its standard error>".
  `/opt/ml/output/message` becomes ExitMessage (first KiB, UTF-8), as on AWS.
"""

from __future__ import annotations

import collections
import contextlib
import mimetypes
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.errors import validation_exception
from sagepipe_local.sagemaker.jobs.base import (
    FAILURE_REASON_LIMIT,
    JobFailedError,
    JobKind,
    JobRun,
    JobStoppedError,
    location_or_fail,
    scratch_path,
)
from sagepipe_local.sagemaker.s3 import S3AccessError, S3Location
from sagepipe_local.sagemaker.state import JobRecord, now

CONTAINER_ML_ROOT = "/opt/ml"
CONTAINER_PROCESSING_ROOT = "/opt/ml/processing/"
EXIT_MESSAGE_LIMIT = 1024
SUPPORTED_REPOSITORIES = frozenset({"sagemaker-scikit-learn"})
STDERR_TAIL_LINES = 20
POLL_SECONDS = 0.2
_BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
# `/opt/ml` at the start of a value or after a separator (`--x=/opt/ml/...`, `a:/opt/ml`).
_CONTAINER_PATH = re.compile(r"(?<![^\s=:,;\"'])/opt/ml(?=$|[/\s:,;\"'])")
_IMAGE = re.compile(r"^[^/]+/(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@.+)?$")
_DESCRIBED_REQUEST_FIELDS = (
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "ProcessingResources",
    "StoppingCondition",
    "AppSpecification",
    "Environment",
    "NetworkConfig",
    "RoleArn",
    "ExperimentConfig",
)


def container_path_mapper(root: Path) -> Callable[[str], str]:
    """Rewrites the container's /opt/ml paths in a string to `root`."""
    local = str(root)

    def mapped(value: str) -> str:
        return _CONTAINER_PATH.sub(lambda _: local, value)

    return mapped


class ProcessingJobKind(JobKind):
    kind = "processing"
    noun = "ProcessingJob"
    arn_resource = "processing-job"
    label = "processing job"

    def validate(self, request: dict[str, Any], context: EmulatorContext) -> None:
        app = request["AppSpecification"]
        if not app.get("ContainerEntrypoint"):
            raise validation_exception(
                "The offline emulator needs AppSpecification.ContainerEntrypoint: it runs "
                "the command, not the image's own entrypoint"
            )
        inputs = request.get("ProcessingInputs", [])
        names = [item["InputName"] for item in inputs]
        outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        names += [item["OutputName"] for item in outputs]
        if len(names) != len(set(names)):
            raise validation_exception(f"Input and output names must be unique: {names}")
        for item in inputs:
            source = item.get("S3Input")
            if source is None:
                raise validation_exception(
                    f"Input {item['InputName']}: only S3Input is supported by the offline "
                    "emulator (not DatasetDefinition)"
                )
            _require_local_path(item["InputName"], source.get("LocalPath"))
            unsupported = {
                "S3DataType": ("S3Prefix", source.get("S3DataType", "S3Prefix")),
                "S3InputMode": ("File", source.get("S3InputMode", "File")),
                "S3CompressionType": ("None", source.get("S3CompressionType", "None")),
            }
            for field, (supported, value) in unsupported.items():
                if value != supported:
                    raise validation_exception(
                        f"Input {item['InputName']}: {field} {value} is not supported by the "
                        f"offline emulator; use {supported}"
                    )
        for item in outputs:
            target = item.get("S3Output")
            if target is None:
                raise validation_exception(
                    f"Output {item['OutputName']}: only S3Output is supported by the offline "
                    "emulator"
                )
            _require_local_path(item["OutputName"], target.get("LocalPath"))
            if target["S3UploadMode"] != "EndOfJob":
                raise validation_exception(
                    f"Output {item['OutputName']}: S3UploadMode {target['S3UploadMode']} is "
                    "not supported by the offline emulator; use EndOfJob"
                )

    def describe(self, record: JobRecord) -> dict[str, Any]:
        request = record.request
        description = {k: request[k] for k in _DESCRIBED_REQUEST_FIELDS if k in request}
        if record.started is not None:
            description["ProcessingStartTime"] = record.started
        if record.ended is not None:
            description["ProcessingEndTime"] = record.ended
        exit_message = record.results.get("ExitMessage")
        if exit_message is not None:
            description["ExitMessage"] = exit_message
        return description

    def run(self, job: JobRun) -> dict[str, Any]:
        request = job.request
        job.enter_phase("Starting", "Preparing the instance for processing")
        _check_image(request["AppSpecification"]["ImageUri"])
        job.update(started=now())
        root = scratch_path(job, "opt-ml")
        to_local = container_path_mapper(root)
        job.enter_phase("Downloading", "Downloading the processing inputs")
        for item in request.get("ProcessingInputs", []):
            self._download(job, item, Path(to_local(item["S3Input"]["LocalPath"])))
        outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            Path(to_local(item["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        (root / "output").mkdir(parents=True, exist_ok=True)
        job.enter_phase("Processing", "Running the processing container")
        code, stderr_tail = self._run_container(job, root, to_local)
        exit_message = _exit_message(root / "output" / "message")
        if exit_message is not None:
            job.update(results={"ExitMessage": exit_message})
        if code != 0:
            raise JobFailedError(_algorithm_error(code, stderr_tail))
        job.enter_phase("Uploading", "Uploading the processing outputs")
        uploaded = sum(
            self._upload(job, item, Path(to_local(item["S3Output"]["LocalPath"])))
            for item in outputs
        )
        return {"UploadedObjectCount": uploaded}

    def _download(self, job: JobRun, item: dict[str, Any], directory: Path) -> None:
        prefix = location_or_fail(item["S3Input"]["S3Uri"])
        try:
            objects = job.context.s3.list_objects(prefix)
            if not objects:
                raise JobFailedError(
                    f'ClientError: No S3 objects found under S3 URL "{prefix.uri}" given in '
                    f"input {item['InputName']}"
                )
            for location in objects:
                job.context.s3.download(location, directory / _relative_path(prefix, location))
                job.check_stop()
        except S3AccessError as error:
            raise JobFailedError(f"ClientError: Data download failed: {error}") from error
        job.log.info("Input %s: %d object(s) from %s", item["InputName"], len(objects), prefix.uri)

    def _upload(self, job: JobRun, item: dict[str, Any], directory: Path) -> int:
        target = location_or_fail(item["S3Output"]["S3Uri"])
        files = sorted(path for path in directory.rglob("*") if path.is_file())
        try:
            for path in files:
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                location = target.child(path.relative_to(directory).as_posix())
                job.context.s3.write(location, path.read_bytes(), content_type)
                job.check_stop()
        except S3AccessError as error:
            raise JobFailedError(f"ClientError: Output upload failed: {error}") from error
        job.log.info("Output %s: %d file(s) to %s", item["OutputName"], len(files), target.uri)
        return len(files)

    def _run_container(
        self, job: JobRun, root: Path, to_local: Callable[[str], str]
    ) -> tuple[int, list[str]]:
        app = job.request["AppSpecification"]
        command = [to_local(part) for part in app["ContainerEntrypoint"]]
        command += [to_local(part) for part in app.get("ContainerArguments", [])]
        if _PYTHON.match(Path(command[0]).name):
            command[0] = sys.executable
        environment = _container_environment(job.request.get("Environment", {}), to_local)
        job.log.info("Running %s", " ".join(command))
        try:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own group: a stop ends its children too
            )
        except OSError as error:
            raise JobFailedError(
                f"ClientError: cannot run the container command {command[0]!r}: {error}"
            ) from error
        stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        readers = [
            _pump(process.stdout, job, "stdout", None),
            _pump(process.stderr, job, "stderr", stderr_tail),
        ]
        try:
            code = _wait(process, job)
        finally:
            for reader in readers:
                reader.join(timeout=5)
        return code, list(stderr_tail)


def _require_local_path(name: str, local_path: str | None) -> None:
    if not local_path or not local_path.startswith(CONTAINER_PROCESSING_ROOT):
        raise validation_exception(
            f"{name}: LocalPath {local_path!r} must be an absolute path under "
            f"{CONTAINER_PROCESSING_ROOT}"
        )


def _check_image(image: str) -> None:
    match = _IMAGE.match(image)
    repository = match.group("repository") if match else None
    if repository not in SUPPORTED_REPOSITORIES:
        raise JobFailedError(
            f"ClientError: image {image} is not supported by the offline emulator: processing "
            f"jobs run {', '.join(sorted(SUPPORTED_REPOSITORIES))} images, as local processes"
        )


def _relative_path(prefix: S3Location, location: S3Location) -> str:
    """Where an object goes below LocalPath: its key below the prefix, or its base name."""
    remainder = location.key[len(prefix.key) :]
    if prefix.key.endswith("/") or remainder.startswith("/"):
        relative = remainder.lstrip("/")
        if relative:
            return relative
    return location.key.rsplit("/", 1)[-1]


def _container_environment(
    requested: Mapping[str, str], to_local: Callable[[str], str]
) -> dict[str, str]:
    environment = {key: os.environ[key] for key in _BASE_ENV_KEYS if key in os.environ}
    # As the SageMaker framework images set them.
    environment.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    environment.update({key: to_local(value) for key, value in requested.items()})
    return environment


def _pump(
    stream: IO[bytes] | None,
    job: JobRun,
    name: str,
    tail: collections.deque[str] | None,
) -> threading.Thread:
    """Copy a stream line by line to the job's log (its log stream), keeping a tail."""

    def copy() -> None:
        if stream is None:
            return
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                job.log.info("[%s] %s", name, line)
                if tail is not None and line.strip():
                    tail.append(line)

    thread = threading.Thread(target=copy, name=f"processing-{name}-{job.name}", daemon=True)
    thread.start()
    return thread


def _wait(process: subprocess.Popen[bytes], job: JobRun) -> int:
    """The exit code; a stop request, MaxRuntimeInSeconds or shutdown kills the process."""
    while True:
        try:
            return process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        try:
            job.check_stop()
        except JobStoppedError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise


def _exit_message(path: Path) -> str | None:
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JobFailedError(
            "ClientError: the container's exit message (/opt/ml/output/message) is not UTF-8"
        ) from error
    return data[:EXIT_MESSAGE_LIMIT].decode("utf-8", "ignore")


def _algorithm_error(code: int, stderr_tail: list[str]) -> str:
    reason = f"AlgorithmError: the processing container exited with code {code}"
    if not stderr_tail:
        return reason
    room = FAILURE_REASON_LIMIT - len(reason) - 2
    tail = "\n".join(stderr_tail)
    return f"{reason}: {tail[-room:]}" if room > 0 else reason
