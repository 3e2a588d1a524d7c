"""A training or transform container: runs the jobs `containers` sends, one at a time.

Started as `python -m sagepipe_local.sagemaker.container_worker S3_URL REGION WORK_DIR
IN_FD OUT_FD`. Requests and replies are JSON lines on the two inherited pipes; stdout
and stderr are the container's output, which the emulator copies to its log.

Emulator -> container: {"type": "run", "job", "kind", "request", "inputs", "scratch"};
{"type": "resume", "job"} (go on after a phase); {"type": "stop", "job", "cause"}.
Container -> emulator: {"type": "ready"}; and for a job, {"type": "phase", "status",
"message"} (then it waits for resume or stop), {"type": "update", "changes"},
{"type": "log", "logger", "level", "text"}, and one of {"type": "done", "results"},
{"type": "failed", "reason"}, {"type": "stopped", "cause"}, {"type": "crashed", "error"}.
Every job message carries "job": the job's name.

The job runs on this process's main thread; a reader thread takes stop requests, which
the job sees at its next `check_stop` (between XGBoost rounds, payloads, objects).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, cast

from sagepipe_local.sagemaker.jobs import job_kinds
from sagepipe_local.sagemaker.jobs.base import (
    JobFailedError,
    JobKind,
    JobLog,
    JobStoppedError,
    StopCause,
)
from sagepipe_local.sagemaker.s3 import S3Store

logger = logging.getLogger(__name__)


# Log records reach the emulator in batches, at most this late: one pipe write and one
# wake-up of the emulator per batch, not one per XGBoost round (~2 ms each at 50,000 rows),
# which cost a quick training job ~15 ms of its 2 cores.
LOG_BATCH_SECONDS = 0.1


class _Replies:
    """Messages to the emulator. Log records wait (at most LOG_BATCH_SECONDS) and go with
    the next batch or ahead of the next other message, so the order is kept."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending_logs: list[bytes] = []
        self._logs_waiting = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._write([*self._pending_logs, _line(message)])

    def send_log(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._pending_logs.append(_line(message))
            first = len(self._pending_logs) == 1
        if first:
            self._logs_waiting.set()

    def forward_logs(self) -> None:
        """Runs on a thread of its own: sends each batch of log records."""
        while True:
            self._logs_waiting.wait()
            time.sleep(LOG_BATCH_SECONDS)
            self._logs_waiting.clear()
            with self._lock:
                if not self._pending_logs:
                    continue
                try:
                    self._write(self._pending_logs)
                except (OSError, ValueError):
                    return  # the emulator has gone: so has the pipe

    def _write(self, lines: list[bytes]) -> None:
        """With the lock held."""
        self._pending_logs = []
        self._stream.write(b"".join(lines))
        self._stream.flush()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("utf-8") + b"\n"


class _Control:
    """The emulator's answers about the running job: resume or stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: str | None = None
        self._stop: StopCause | None = None
        self._answers: queue.Queue[StopCause | None] = queue.Queue()

    def begin(self, job: str) -> None:
        with self._lock:
            self._job, self._stop = job, None
            self._answers = queue.Queue()

    def resume(self, job: str) -> None:
        with self._lock:
            if job == self._job:
                self._answers.put(None)

    def stop(self, job: str, cause: StopCause) -> None:
        with self._lock:
            if job == self._job:
                self._stop = cause
                self._answers.put(cause)

    def stop_cause(self) -> StopCause | None:
        with self._lock:
            return self._stop

    def next_answer(self) -> StopCause | None:
        """After a phase: None to go on, or why to stop."""
        return self._answers.get()


class ContainerResources:
    """A container's work directory, and S3 should a job's `run` ask for it: the emulator
    stages the inputs and outputs of the kinds that run in containers, so their jobs
    never do, and the client (~76 ms to create) is made only on first use."""

    def __init__(self, s3_endpoint_url: str, region: str, work_dir: Path) -> None:
        self._s3_endpoint_url, self._region = s3_endpoint_url, region
        self.work_dir = work_dir

    @functools.cached_property
    def s3(self) -> S3Store:
        return S3Store(self._s3_endpoint_url, self._region)


class ContainerJob:
    """The JobRun a kind's `run` sees in a container."""

    def __init__(
        self,
        message: dict[str, Any],
        kind: JobKind,
        resources: ContainerResources,
        control: _Control,
        replies: _Replies,
    ) -> None:
        self.name = str(message["job"])
        self.request: dict[str, Any] = message["request"]
        self.inputs: dict[str, Any] = message.get("inputs") or {}
        self.scratch = Path(message["scratch"])
        self.log = JobLog(
            logging.getLogger(f"sagepipe_local.sagemaker.{kind.kind}"), {"job": self.name}
        )
        self._resources = resources
        self._control = control
        self._replies = replies

    @property
    def context(self) -> ContainerResources:
        return self._resources

    def check_stop(self) -> None:
        cause = self._control.stop_cause()
        if cause is not None:
            raise JobStoppedError(cause)

    def enter_phase(self, secondary_status: str, message: str) -> None:
        """The emulator records the phase, holds it for its phase delay, then answers."""
        self.check_stop()
        self._replies.send(
            {"type": "phase", "job": self.name, "status": secondary_status, "message": message}
        )
        cause = self._control.next_answer()
        if cause is not None:
            raise JobStoppedError(cause)

    def update(self, **changes: Any) -> None:
        self._replies.send({"type": "update", "job": self.name, "changes": changes})


class _ForwardLogs(logging.Handler):
    """Every log record goes to the emulator, which logs it under the same logger."""

    def __init__(self, replies: _Replies) -> None:
        super().__init__()
        self._replies = replies
        self.job = ""
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._replies.send_log(
                {
                    "type": "log",
                    "job": self.job,
                    "logger": record.name,
                    "level": record.levelno,
                    "text": self.format(record),
                }
            )
        except (OSError, ValueError):
            self.handleError(record)


def _read_requests(
    requests: IO[bytes], runs: queue.Queue[dict[str, Any] | None], control: _Control
) -> None:
    with requests:
        for line in requests:
            if not line.strip():
                continue
            message = json.loads(line)
            kind = message.get("type")
            if kind == "run":
                runs.put(message)
            elif kind == "resume":
                control.resume(str(message["job"]))
            elif kind == "stop":
                control.stop(str(message["job"]), cast(StopCause, message["cause"]))
    runs.put(None)


def _run_one(
    message: dict[str, Any],
    kinds: dict[str, JobKind],
    resources: ContainerResources,
    control: _Control,
    replies: _Replies,
) -> dict[str, Any]:
    name = str(message["job"])
    kind = kinds.get(str(message["kind"]))
    if kind is None:
        return {"type": "crashed", "job": name, "error": f"no such job kind: {message['kind']}"}
    control.begin(name)
    job = ContainerJob(message, kind, resources, control, replies)
    try:
        results = kind.run(job)
    except JobFailedError as failed:
        return {"type": "failed", "job": name, "reason": failed.reason}
    except JobStoppedError as stopped:
        return {"type": "stopped", "job": name, "cause": stopped.cause}
    except Exception as error:  # the emulator must always learn the job's outcome
        job.log.exception("%s crashed", kind.label.capitalize())
        return {"type": "crashed", "job": name, "error": f"{type(error).__name__}: {error}"}
    return {"type": "done", "job": name, "results": results}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5:
        sys.stderr.write(
            "usage: python -m sagepipe_local.sagemaker.container_worker "
            "S3_URL REGION WORK_DIR IN_FD OUT_FD\n"
        )
        return 2
    s3_url, region, work_dir, in_fd, out_fd = args[0], args[1], Path(args[2]), *map(int, args[3:])
    os.set_inheritable(in_fd, False)
    os.set_inheritable(out_fd, False)
    replies = _Replies(os.fdopen(out_fd, "wb"))
    forward = _ForwardLogs(replies)
    root = logging.getLogger()
    root.addHandler(forward)
    root.setLevel(logging.INFO)
    kinds = {kind.kind: kind for kind in job_kinds() if kind.runs_in_container}
    resources = ContainerResources(s3_url, region, work_dir)
    control = _Control()
    runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(
        target=_read_requests,
        args=(os.fdopen(in_fd, "rb"), runs, control),
        name="container-requests",
        daemon=True,
    ).start()
    threading.Thread(target=replies.forward_logs, name="container-logs", daemon=True).start()
    replies.send({"type": "ready"})
    while (message := runs.get()) is not None:
        forward.job = str(message["job"])
        replies.send(_run_one(message, kinds, resources, control, replies))
        forward.job = ""
    return 0


if __name__ == "__main__":
    sys.exit(main())
