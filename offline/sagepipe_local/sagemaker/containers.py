"""Training and transform containers: warm processes that run a job on their main thread.

On SageMaker a job runs in a container of its own. Offline, a job kind that
`runs_in_container` runs its `run` in a container process (`container_worker`): the
job's parsing and algorithm run on that process's main thread, on the inputs the
emulator staged for it, and the job's worker thread in the emulator only relays what
the container reports (phases, updates, logs, the outcome) and passes stop requests on.

Why a process, not a thread of the emulator: XGBoost trains the bench's 34,489-row
channel in about 0.15 s on a process's main thread but 0.22-0.40 s on any other thread,
twice as slow again once the process's main thread has trained too; and the job's Python
work no longer competes for the stack process's GIL with moto and the HTTP servers.

Containers are kept warm (xgboost, numpy and boto3 imported once) and reused one job at
a time; at most `max_idle` wait for the next job.

Messages are JSON lines on two inherited pipes (see `container_worker`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final, cast

from sagepipe_local.processes import ALLOCATOR_ENVIRONMENT, kill_group
from sagepipe_local.sagemaker.jobs.base import (
    JobFailedError,
    JobStoppedError,
    RunningJob,
    StopCause,
)

logger = logging.getLogger(__name__)

READY_SECONDS: Final = 120.0  # a cold container imports xgboost, numpy and boto3
RELAY_POLL_SECONDS: Final = 0.05  # how often a waiting relay looks for a stop request
# After a stop is passed on, how long the container may take to reach its next check
# (an XGBoost round, a payload) before it is killed.
STOP_GRACE_SECONDS: Final = 10.0
EXIT_GRACE_SECONDS: Final = 2.0
_PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]  # holds sagepipe_local


class ContainerError(Exception):
    """The container could not start or exited before the job's outcome."""


class ContainerProcess:
    """One container process: runs one job at a time, sent by `run` messages."""

    def __init__(self, python: str, s3_endpoint_url: str, region: str, work_dir: Path) -> None:
        self._python = python
        self._arguments = [s3_endpoint_url, region, str(work_dir)]
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: IO[bytes] | None = None
        self._send_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
        )
        environment["PYTHONUNBUFFERED"] = "1"
        environment.update(ALLOCATOR_ENVIRONMENT)
        try:
            self._process = subprocess.Popen(
                [
                    self._python,
                    "-m",
                    "sagepipe_local.sagemaker.container_worker",
                    *self._arguments,
                    str(request_read),
                    str(reply_write),
                ],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, reply_write),
                start_new_session=True,  # a kill reaches only the container's own group
            )
        except OSError as error:
            os.close(request_write)
            os.close(reply_read)
            raise ContainerError(f"cannot start a container process: {error}") from error
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests = os.fdopen(request_write, "wb")
        assert self._process.stdout is not None
        _daemon(self._pump_output, self._process.stdout, "container-output")
        _daemon(self._read_messages, os.fdopen(reply_read, "rb"), "container-replies")
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                message = self.next_message(max(0.0, deadline - time.monotonic()))
            except ContainerError:
                self.kill()
                raise
            if message is not None and message.get("type") == "log":
                log_forwarded(message)
                continue
            if message is None or message.get("type") != "ready":
                self.kill()
                raise ContainerError(f"the container process did not start: {message!r}")
            return

    def send(self, message: dict[str, Any]) -> None:
        if self._requests is None:
            raise ContainerError("the container process is not running")
        try:
            with self._send_lock:
                self._requests.write(json.dumps(message).encode("utf-8") + b"\n")
                self._requests.flush()
        except (BrokenPipeError, ValueError) as error:
            raise ContainerError(f"the container process exited ({self._exit_status()})") from error

    def next_message(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None after `timeout`; ContainerError once it exited."""
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            return None
        if message is None:
            self._messages.put(None)  # every later call sees the exit too
            raise ContainerError(f"the container process exited ({self._exit_status()})")
        return message

    def stop(self) -> None:
        """EOF on its request pipe ends it; it is killed if it does not exit in time."""
        if self._requests is not None:
            with contextlib.suppress(OSError, ValueError):
                self._requests.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=EXIT_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        kill_group(self._process, self._requests, EXIT_GRACE_SECONDS)

    def _exit_status(self) -> str:
        if self._process is None:
            return "never started"
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=EXIT_GRACE_SECONDS)
        code = self._process.returncode
        if code is None:
            return "still running"
        return f"exit status {code}" if code >= 0 else f"signal {-code}"

    def _read_messages(self, replies: IO[bytes]) -> None:
        with replies:
            for line in replies:
                try:
                    self._messages.put(json.loads(line))
                except json.JSONDecodeError:
                    logger.warning("bad message from a container: %r", line[:200])
        self._messages.put(None)

    @staticmethod
    def _pump_output(stream: IO[bytes]) -> None:
        """What the container prints outside logging (native libraries' warnings)."""
        with stream:
            for raw in stream:
                logger.info("container: %s", raw.decode("utf-8", "replace").rstrip())


class ContainerPool:
    """Warm container processes for the emulator's jobs, started when first needed."""

    def __init__(
        self,
        s3_endpoint_url: str,
        region: str,
        work_dir: Path,
        *,
        python: str = sys.executable,
        max_idle: int = 2,
    ) -> None:
        self._factory: Callable[[], ContainerProcess] = lambda: ContainerProcess(
            python, s3_endpoint_url, region, work_dir
        )
        self._max_idle = max_idle
        self._idle: list[ContainerProcess] = []
        self._busy: set[ContainerProcess] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, kind: str, job: RunningJob) -> dict[str, Any]:
        """Run the job of this kind in a container; its results, or the job's failure or
        stop raised as JobFailedError or JobStoppedError."""
        try:
            container = self._acquire()
        except ContainerError as error:
            raise JobFailedError(f"InternalServerError: {error}") from error
        reusable = False
        try:
            job.check_stop()
            container.send(
                {
                    "type": "run",
                    "job": job.name,
                    "kind": kind,
                    "request": job.request,
                    "inputs": job.inputs,
                    "scratch": str(job.scratch),
                }
            )
            outcome, reusable = _relay(container, job)
        finally:
            self._release(container, reusable)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def shutdown(self) -> None:
        """Stop every container; a job still running in one sees it exit."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
        for container in busy:
            container.kill()
        for container in idle:
            container.stop()

    def _acquire(self) -> ContainerProcess:
        with self._lock:
            if self._closed:
                raise ContainerError("the emulator is shutting down")
            while self._idle:
                container = self._idle.pop()
                if container.alive:
                    self._busy.add(container)
                    return container
            container = self._factory()
            self._busy.add(container)
        try:
            container.start()
        except ContainerError:
            with self._lock:
                self._busy.discard(container)
            raise
        return container

    def _release(self, container: ContainerProcess, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(container)
            keep = reusable and container.alive and not self._closed
            if keep and len(self._idle) < self._max_idle:
                self._idle.append(container)
                return
        if keep:
            container.stop()
        else:
            container.kill()


Outcome = dict[str, Any] | BaseException


def _relay(container: ContainerProcess, job: RunningJob) -> tuple[Outcome, bool]:
    """Follow the container until the job's outcome; (outcome, container reusable)."""
    stop: JobStoppedError | None = None
    stop_sent_at = 0.0

    def pass_on(requested: JobStoppedError) -> None:
        nonlocal stop, stop_sent_at
        if stop is None:
            stop, stop_sent_at = requested, time.monotonic()
            container.send({"type": "stop", "job": job.name, "cause": requested.cause})

    while True:
        try:
            # Each time round, not only when the container is quiet: it may log every
            # XGBoost round, faster than RELAY_POLL_SECONDS.
            if stop is None:
                try:
                    job.check_stop()
                except JobStoppedError as requested:
                    pass_on(requested)
            elif time.monotonic() - stop_sent_at > STOP_GRACE_SECONDS:
                job.log.warning("the container did not stop in time: killed")
                return stop, False
            message = container.next_message(RELAY_POLL_SECONDS)
            if message is None:
                continue
            if message.get("job") != job.name:
                if message.get("type") == "log":
                    log_forwarded(message)
                continue  # otherwise a late message about an earlier job
            kind = message["type"]
            if kind == "log":
                log_forwarded(message)
            elif kind == "phase":
                try:
                    job.enter_phase(str(message["status"]), str(message["message"]))
                except JobStoppedError as requested:
                    pass_on(requested)
                else:
                    container.send({"type": "resume", "job": job.name})
            elif kind == "update":
                job.update(**message["changes"])
            elif kind == "done":
                return dict(message["results"]), True
            elif kind == "failed":
                return JobFailedError(str(message["reason"])), True
            elif kind == "stopped":
                return JobStoppedError(cast(StopCause, message["cause"])), True
            elif kind == "crashed":
                # The job's code raised something else (an emulator bug): the reason an
                # in-process job gets (JobManager._run).
                reason = f"InternalServerError: emulator error: {message['error']}"
                return JobFailedError(reason), True
            else:
                job.log.warning("unknown message from the container: %r", message)
        except ContainerError as error:
            if stop is not None:
                return stop, False
            return JobFailedError(f"InternalServerError: {error}"), False


def log_forwarded(message: dict[str, Any]) -> None:
    """A container's log record, under the logger that made it."""
    logging.getLogger(str(message["logger"])).log(int(message["level"]), "%s", message["text"])


def _daemon(target: Callable[[Any], None], argument: Any, name: str) -> None:
    threading.Thread(target=target, args=(argument,), name=name, daemon=True).start()
