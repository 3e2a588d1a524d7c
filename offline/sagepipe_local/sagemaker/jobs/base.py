"""Background jobs (processing, training, transform) with SageMaker's life cycle.

A job kind supplies validation, the work itself and its Describe fields; JobManager does
the rest for every kind alike: names, ARNs, Create/Describe/Stop, the worker thread,
status transitions, stop requests, max run time, persistence and restart recovery.
A kind that `runs_in_container` does its work in a container process (`containers`);
its worker thread here only relays phases, updates and stop requests.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from sagepipe_local.sagemaker.context import EmulatorContext
from sagepipe_local.sagemaker.errors import resource_in_use, validation_exception
from sagepipe_local.sagemaker.protocol import Operation
from sagepipe_local.sagemaker.s3 import ObjectStore, S3Location
from sagepipe_local.sagemaker.state import JobRecord, StatusTransition, now

if TYPE_CHECKING:
    from sagepipe_local.sagemaker.containers import ContainerPool

logger = logging.getLogger(__name__)

FAILURE_REASON_LIMIT = 1024
StopCause = Literal["request", "max_runtime", "shutdown"]


class JobStoppedError(Exception):
    """Ends the job early: a Stop* request, MaxRuntimeInSeconds, or emulator shutdown."""

    def __init__(self, cause: StopCause) -> None:
        super().__init__(cause)
        self.cause = cause


class JobFailedError(Exception):
    """Ends the job as Failed; `reason` is the full FailureReason ("ClientError: ...")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the job name, as a log stream would separate them."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        job = self.extra["job"] if self.extra else "?"
        return f"[{job}] {msg}", kwargs


class JobResources(Protocol):
    """What a job's work may use besides its request: S3 and a work directory."""

    @property
    def s3(self) -> ObjectStore: ...

    @property
    def work_dir(self) -> Path: ...


class JobRun(Protocol):
    """What a kind's `run` sees, in this process (RunningJob) or in a container."""

    name: str
    request: dict[str, Any]
    inputs: dict[str, Any]  # what the kind's `prepare` gave
    scratch: Path
    log: JobLog

    @property
    def context(self) -> JobResources: ...

    def check_stop(self) -> None: ...

    def enter_phase(self, secondary_status: str, message: str) -> None: ...

    def update(self, **changes: Any) -> None: ...


class RunningJob:
    """What a job's worker sees: its request, scratch space, phases and stop checks."""

    def __init__(
        self,
        manager: JobManager,
        kind: JobKind,
        record: JobRecord,
        stop_requested: threading.Event,
        deadline: float | None,
    ) -> None:
        self.name = record.name
        self.request = record.request
        self.inputs: dict[str, Any] = {}
        self.context = manager.context
        self.scratch = manager.context.work_dir / kind.kind / record.name
        self.log = JobLog(
            logging.getLogger(f"sagepipe_local.sagemaker.{kind.kind}"), {"job": record.name}
        )
        self._manager = manager
        self._kind = kind
        self._stop_requested = stop_requested
        self._deadline = deadline

    def check_stop(self) -> None:
        if self.context.background.shutting_down.is_set():
            raise JobStoppedError("shutdown")
        if self._stop_requested.is_set():
            raise JobStoppedError("request")
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise JobStoppedError("max_runtime")

    def enter_phase(self, secondary_status: str, message: str) -> None:
        """Move to a SecondaryStatus, let callers see it for one phase delay, then go on."""
        self.check_stop()
        self._manager.transition(self._kind, self.name, secondary_status, message)
        self.log.info("%s: %s", secondary_status, message)
        self._stop_requested.wait(self.context.phase_delay_seconds)
        self.check_stop()

    def update(self, **changes: Any) -> None:
        """Record results or timestamps on the job while it runs."""
        self._manager.update(self._kind, self.name, changes)


class JobKind(ABC):
    kind: ClassVar[str]  # "training"
    noun: ClassVar[str]  # "TrainingJob": CreateTrainingJob, TrainingJobName, TrainingJobArn, ...
    arn_resource: ClassVar[str]  # "training-job"
    label: ClassVar[str]  # "training job", in messages
    tracks_secondary_status: ClassVar[bool] = False
    # Its `run` goes to a container process; `prepare` still runs here.
    runs_in_container: ClassVar[bool] = False

    def validate(self, request: dict[str, Any], context: EmulatorContext) -> None:
        """Checks made synchronously by Create* (raise ApiError); none by default."""
        del request, context

    def prepare(self, job: RunningJob) -> dict[str, Any]:
        """What `run` needs, made ready here when the job starts: records from the
        emulator's registry, inputs staged from S3 into the job's scratch directory (as
        SageMaker downloads a container's inputs before starting it); nothing by
        default."""
        del job
        return {}

    @abstractmethod
    def run(self, job: JobRun) -> dict[str, Any]:
        """Do the work and return results to keep on the record (JSON values).

        Raise JobFailedError to fail; JobStoppedError comes from `job.check_stop()`.
        """

    def finish(self, job: RunningJob, results: dict[str, Any]) -> dict[str, Any]:
        """After `run`, here: what the platform does once the container is done (upload
        its outputs); returns the results to keep. `results` as they are by default."""
        del job
        return results

    @abstractmethod
    def describe(self, record: JobRecord) -> dict[str, Any]:
        """The kind's own Describe* fields (status fields are added by the manager)."""

    def completed_message(self) -> str:
        return f"{self.label.capitalize()} completed"


def _max_runtime_seconds(request: dict[str, Any]) -> float | None:
    """StoppingCondition.MaxRuntimeInSeconds, for the kinds whose request has one
    (training and processing jobs; a transform job has none)."""
    limit = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    return float(limit) if limit else None


class JobManager:
    def __init__(
        self,
        context: EmulatorContext,
        kinds: Sequence[JobKind],
        containers: ContainerPool | None = None,
    ) -> None:
        """`containers` runs the kinds that `runs_in_container`; without it they run in
        their worker thread here."""
        self.context = context
        self._kinds = {kind.kind: kind for kind in kinds}
        self._containers = containers
        self._stop_events: dict[tuple[str, str], threading.Event] = {}

    def operations(self) -> dict[str, Operation]:
        operations: dict[str, Operation] = {}
        for kind in self._kinds.values():
            operations[f"Create{kind.noun}"] = self._bind(self.create, kind)
            operations[f"Describe{kind.noun}"] = self._bind(self.describe, kind)
            operations[f"Stop{kind.noun}"] = self._bind(self.stop, kind)
        return operations

    @staticmethod
    def _bind(
        method: Callable[[JobKind, dict[str, Any]], dict[str, Any]], kind: JobKind
    ) -> Operation:
        return lambda request: method(kind, request)

    def create(self, kind: JobKind, request: dict[str, Any]) -> dict[str, Any]:
        name = request[f"{kind.noun}Name"]
        kind.validate(request, self.context)
        registry = self.context.registry
        arn = self.context.arns.arn(kind.arn_resource, name)
        with registry.lock:
            table = registry.jobs_of(kind.kind)
            if name in table:
                raise resource_in_use(f"{kind.label.capitalize()} {name} already exists")
            created = now()
            record = JobRecord(
                kind=kind.kind,
                name=name,
                arn=arn,
                request=request,
                status="InProgress",
                created=created,
                last_modified=created,
            )
            table[name] = record
            stop_requested = threading.Event()
            self._stop_events[(kind.kind, name)] = stop_requested
            registry.save()
        limit = _max_runtime_seconds(request)
        deadline = time.monotonic() + limit if limit else None
        job = RunningJob(self, kind, record, stop_requested, deadline)
        self.context.background.start(f"sagemaker-{kind.kind}-{name}", lambda: self._run(kind, job))
        return {f"{kind.noun}Arn": arn}

    def describe(self, kind: JobKind, request: dict[str, Any]) -> dict[str, Any]:
        with self.context.registry.lock:
            record = self._requested(kind, request)
            description = {
                f"{kind.noun}Name": record.name,
                f"{kind.noun}Arn": record.arn,
                f"{kind.noun}Status": record.status,
                "CreationTime": record.created,
                "LastModifiedTime": record.last_modified,
                **kind.describe(record),
            }
            if record.failure_reason:
                description["FailureReason"] = record.failure_reason
            if kind.tracks_secondary_status and record.secondary_status:
                description["SecondaryStatus"] = record.secondary_status
                description["SecondaryStatusTransitions"] = [
                    _transition_json(t) for t in record.transitions
                ]
            return description

    def stop(self, kind: JobKind, request: dict[str, Any]) -> dict[str, Any]:
        registry = self.context.registry
        with registry.lock:
            record = self._requested(kind, request)
            if record.status == "Stopping":
                return {}
            if record.status != "InProgress":
                raise validation_exception(
                    f"The request was rejected because the {kind.label} is in status "
                    f"{record.status}."
                )
            record.status = "Stopping"
            record.last_modified = now()
            if kind.tracks_secondary_status:
                self._append_transition(record, "Stopping", "Stopping the job")
            registry.save()
            stop_requested = self._stop_events.get((kind.kind, record.name))
        if stop_requested is not None:
            stop_requested.set()
        return {}

    def _requested(self, kind: JobKind, request: dict[str, Any]) -> JobRecord:
        """The job a Describe or Stop request names; call with the registry lock held."""
        record = self.context.registry.jobs_of(kind.kind).get(request[f"{kind.noun}Name"])
        if record is None:
            raise validation_exception("Requested resource not found.")
        return record

    def transition(self, kind: JobKind, name: str, secondary_status: str, message: str) -> None:
        registry = self.context.registry
        with registry.lock:
            record = registry.jobs_of(kind.kind)[name]
            if record.status != "InProgress":
                return
            record.last_modified = now()
            if kind.tracks_secondary_status:
                self._append_transition(record, secondary_status, message)
            registry.save()

    def update(self, kind: JobKind, name: str, changes: Mapping[str, Any]) -> None:
        registry = self.context.registry
        with registry.lock:
            record = registry.jobs_of(kind.kind)[name]
            for field_name, value in changes.items():
                if field_name == "results":
                    record.results.update(value)
                else:
                    setattr(record, field_name, value)
            registry.save()

    def recover_after_restart(self) -> None:
        """Jobs that were running when the emulator stopped cannot resume: they failed."""
        registry = self.context.registry
        with registry.lock:
            for kind_name, table in registry.jobs.items():
                kind = self._kinds.get(kind_name)
                for record in table.values():
                    if not record.is_terminal and kind is not None:
                        self._finish(
                            kind,
                            record,
                            "Failed",
                            "Failed",
                            "InternalServerError: the offline SageMaker emulator restarted "
                            "while the job was running",
                        )
            registry.save()

    def _run(self, kind: JobKind, job: RunningJob) -> None:
        job.log.info("%s started", kind.label.capitalize())
        try:
            job.inputs = kind.prepare(job)
            if kind.runs_in_container and self._containers is not None:
                results = self._containers.run(kind.kind, job)
            else:
                results = kind.run(job)
            results = kind.finish(job, results)
        except JobStoppedError as stopped:
            self._stopped(kind, job.name, stopped.cause)
        except JobFailedError as failed:
            job.log.error("%s failed: %s", kind.label.capitalize(), failed.reason)
            self._end(kind, job.name, status="Failed", failure_reason=failed.reason)
        except Exception as error:  # the worker must always leave a final status
            job.log.exception("%s crashed", kind.label.capitalize())
            reason = f"InternalServerError: emulator error: {type(error).__name__}: {error}"
            self._end(kind, job.name, status="Failed", failure_reason=reason)
        else:
            self._end(kind, job.name, status="Completed", results=results)
        finally:
            shutil.rmtree(job.scratch, ignore_errors=True)
            with self.context.registry.lock:
                self._stop_events.pop((kind.kind, job.name), None)

    def _stopped(self, kind: JobKind, name: str, cause: StopCause) -> None:
        if cause == "shutdown":
            self._end(
                kind,
                name,
                status="Failed",
                failure_reason="InternalServerError: the offline SageMaker emulator shut down "
                "while the job was running",
            )
        elif cause == "max_runtime":
            self._end(kind, name, status="Stopped", secondary_status="MaxRuntimeExceeded")
        else:
            self._end(kind, name, status="Stopped")

    def _end(
        self,
        kind: JobKind,
        name: str,
        *,
        status: str,
        secondary_status: str | None = None,
        failure_reason: str | None = None,
        results: dict[str, Any] | None = None,
    ) -> None:
        """`secondary_status` defaults to `status` (Completed, Failed, Stopped)."""
        registry = self.context.registry
        with registry.lock:
            record = registry.jobs_of(kind.kind).get(name)
            if record is None:
                return
            if status == "Completed" and record.status == "Stopping":
                # The stop request arrived while the last phase finished: it wins.
                status = secondary_status = "Stopped"
            elif results:
                record.results.update(results)
            self._finish(kind, record, status, secondary_status or status, failure_reason)
            registry.save()
        logger.info("%s %s: %s", kind.label, name, status)

    def _finish(
        self,
        kind: JobKind,
        record: JobRecord,
        status: str,
        secondary_status: str,
        failure_reason: str | None,
    ) -> None:
        ended = now()
        record.status = status
        record.ended = ended
        record.last_modified = ended
        if failure_reason:
            record.failure_reason = failure_reason[:FAILURE_REASON_LIMIT]
        if kind.tracks_secondary_status:
            messages = {
                "Completed": kind.completed_message(),
                "Failed": f"{kind.label.capitalize()} failed. Reason: {failure_reason}",
                "Stopped": f"{kind.label.capitalize()} stopped.",
                "MaxRuntimeExceeded": f"{kind.label.capitalize()} exceeded MaxRuntimeInSeconds.",
            }
            self._append_transition(record, secondary_status, messages[secondary_status])
            record.transitions[-1].end = ended

    @staticmethod
    def _append_transition(record: JobRecord, status: str, message: str) -> None:
        moment = now()
        if record.transitions and record.transitions[-1].end is None:
            record.transitions[-1].end = moment
        record.transitions.append(StatusTransition(status=status, start=moment, message=message))
        record.secondary_status = status


def _transition_json(transition: StatusTransition) -> dict[str, Any]:
    result: dict[str, Any] = {
        "Status": transition.status,
        "StartTime": transition.start,
        "StatusMessage": transition.message,
    }
    if transition.end is not None:
        result["EndTime"] = transition.end
    return result


def scratch_path(job: JobRun, *parts: str) -> Path:
    path = job.scratch.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def location_or_fail(uri: str) -> S3Location:
    try:
        return S3Location.parse(uri)
    except ValueError as error:
        raise JobFailedError(f"ClientError: {error}") from error
