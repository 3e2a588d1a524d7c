"""Run Lambda functions' real handlers in warm worker subprocesses.

One pool per function: an idle worker is reused (warm start); when all are busy another
is started. A worker is the venv's Python running `sagepipe_local.lambda_worker` with
cwd = the function's code directory and PYTHONPATH = code directory + layer directories,
in a clean environment made of a small base, the function's Environment, the local
endpoint and the variables the Lambda runtime sets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from sagepipe_local import local_aws
from sagepipe_local.processes import ALLOCATOR_ENVIRONMENT, kill_group

LOG = logging.getLogger(__name__)
FUNCTION_LOG = logging.getLogger("sagepipe_local.functions")

# AWS's init phase may take 10 s before it is retried inside the invocation's timeout.
INIT_GRACE_SECONDS: Final = 10.0
STOP_GRACE_SECONDS: Final = 2.0
UNHANDLED: Final = "Unhandled"
TIMEOUT_ERROR: Final = "Sandbox.Timedout"
EXIT_ERROR: Final = "Runtime.ExitError"
# Waits before the retries of a failed event invocation: AWS waits 1 and 2 minutes,
# offline a sixtieth of that.
ASYNC_RETRY_DELAYS: Final = (1.0, 2.0)
_INTERPRETER: Final = f"python{sys.version_info.major}.{sys.version_info.minor}"
_BASE_ENV_KEYS: Final = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")


@dataclass(frozen=True)
class FunctionConfig:
    """Everything needed to run one function version."""

    name: str
    arn: str
    handler: str
    timeout: int
    memory_size: int
    environment: Mapping[str, str]
    code_dir: Path
    import_dirs: tuple[Path, ...] = ()  # layers, after the code directory
    version: str = "$LATEST"
    runtime: str = "python3.12"
    # Event invocations: retries after a function error (Lambda's default is 2), and the
    # SNS topic that gets the event when they are used up (None: it is dropped).
    async_retries: int = 2
    on_failure_topic: str | None = None

    def fingerprint(self) -> tuple[Any, ...]:
        return (
            self.handler,
            self.timeout,
            self.memory_size,
            tuple(sorted(self.environment.items())),
            self.code_dir,
            self.import_dirs,
            self.version,
        )


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None  # the X-Amz-Function-Error value, None on success
    request_id: str

    def error(self) -> dict[str, Any] | None:
        if self.function_error is None:
            return None
        loaded = json.loads(self.payload)
        return loaded if isinstance(loaded, dict) else {"errorMessage": str(loaded)}


class WorkerError(Exception):
    """The worker could not answer; `error` is the AWS-shaped function error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error


class LogSink:
    """A function's log: one file, optionally echoed to the console with a prefix."""

    def __init__(self, function_name: str, path: Path, echo: bool) -> None:
        self._name = function_name
        self._echo = echo
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()
        if self._echo:
            FUNCTION_LOG.info("%s | %s", self._name, line)

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Worker:
    """One subprocess serving one function configuration, one invocation at a time."""

    def __init__(self, config: FunctionConfig, environ: Mapping[str, str], python: str) -> None:
        self.config = config
        self._environ = dict(environ)
        self._python = python
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: IO[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._spawn_lock = threading.Lock()
        self._killed = False

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, sink: LogSink, request_id: str) -> None:
        """Start the process and wait for its init phase; raises WorkerError."""
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self._spawn(request_read, reply_write)
        except OSError as error:
            os.close(request_write)
            os.close(reply_read)
            raise WorkerError(
                _exit_error(request_id, f"cannot start the runtime: {error}")
            ) from error
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests = os.fdopen(request_write, "wb")
        replies = os.fdopen(reply_read, "rb")
        assert self._process is not None and self._process.stdout is not None
        self._threads = [
            threading.Thread(
                target=self._pump_logs,
                args=(self._process.stdout, sink),
                name=f"lambda-logs-{self.config.name}",
                daemon=True,
            ),
            threading.Thread(
                target=self._read_replies,
                args=(replies,),
                name=f"lambda-replies-{self.config.name}",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        budget = INIT_GRACE_SECONDS + self.config.timeout
        reply = self._next_reply(budget, request_id, sink)
        if reply.get("kind") == "init_error":
            self.kill()
            raise WorkerError(dict(reply["error"]))
        if reply.get("kind") != "ready":
            self.kill()
            raise WorkerError(_exit_error(request_id, f"unexpected message {reply!r}"))

    def _spawn(self, request_read: int, reply_write: int) -> None:
        with self._spawn_lock:
            if self._killed:
                raise OSError("the worker was stopped before it started")
            self._process = subprocess.Popen(
                [
                    self._python,
                    "-m",
                    "sagepipe_local.lambda_worker",
                    self.config.handler,
                    str(request_read),
                    str(reply_write),
                ],
                cwd=self.config.code_dir,
                env=self._environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, reply_write),
                # Its own process group: Ctrl-C in the terminal reaches only the stack,
                # which stops workers itself; a timeout kills the handler's children too.
                start_new_session=True,
            )

    def call(self, request: dict[str, Any], sink: LogSink) -> dict[str, Any]:
        """Send one invocation and wait for its reply within the function's timeout."""
        assert self._requests is not None
        request_id = str(request["request_id"])
        try:
            self._requests.write(json.dumps(request).encode("utf-8") + b"\n")
            self._requests.flush()
        except (BrokenPipeError, ValueError) as error:
            self.kill()
            raise WorkerError(_exit_error(request_id, str(error))) from error
        return self._next_reply(float(self.config.timeout), request_id, sink)

    def _next_reply(self, seconds: float, request_id: str, sink: LogSink) -> dict[str, Any]:
        try:
            reply = self._replies.get(timeout=seconds)
        except queue.Empty:
            self.kill()
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            sink.write(f"{stamp} {request_id} Task timed out after {seconds:.2f} seconds")
            raise WorkerError(
                {
                    "errorType": TIMEOUT_ERROR,
                    "errorMessage": (
                        f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"
                    ),
                }
            ) from None
        if reply is None:
            code = self._wait_exit()
            detail = f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"
            raise WorkerError(_exit_error(request_id, f"Runtime exited with error: {detail}"))
        return reply

    def _wait_exit(self) -> int | None:
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            return self._process.returncode

    def _read_replies(self, replies: IO[bytes]) -> None:
        with replies:
            for line in replies:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    LOG.warning("%s: bad message from worker: %r", self.config.name, line[:200])
                    continue
                self._replies.put(message)
        self._replies.put(None)

    @staticmethod
    def _pump_logs(stream: IO[bytes], sink: LogSink) -> None:
        with stream:
            for raw in stream:
                sink.write(raw.decode("utf-8", "replace"))

    def stop(self) -> None:
        """Ask the worker to exit (EOF on its request pipe); kill it if it does not."""
        if self._requests is not None:
            with contextlib.suppress(OSError, ValueError):
                self._requests.close()
        if self._process is not None and self._process.poll() is None:
            try:
                self._process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
        self._join()

    def kill(self) -> None:
        with self._spawn_lock:
            self._killed = True
            process = self._process
        kill_group(process, self._requests, STOP_GRACE_SECONDS)

    def _join(self) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=STOP_GRACE_SECONDS)


def failure_record(
    config: FunctionConfig, payload: str | bytes, result: InvocationResult, attempts: int
) -> dict[str, Any]:
    """What Lambda sends an OnFailure destination once an event's retries are used up."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    try:
        request_payload: Any = json.loads(text)
    except json.JSONDecodeError:
        request_payload = text
    return {
        "version": "1.0",
        "timestamp": dt.datetime.now(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"{config.arn}:{config.version}",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request_payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": config.version,
            "functionError": result.function_error,
        },
        "responsePayload": result.error(),
    }


def _exit_error(request_id: str, detail: str) -> dict[str, Any]:
    return {"errorType": EXIT_ERROR, "errorMessage": f"RequestId: {request_id} Error: {detail}"}


class _FunctionPool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[Worker] = []
        self.busy: set[Worker] = set()


class LambdaRuntime:
    def __init__(
        self,
        *,
        endpoint_url: str,
        work_dir: Path,
        region: str = local_aws.DEFAULT_REGION,
        python: str = sys.executable,
        echo_logs: bool = False,
        async_workers: int = 8,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._region = region
        self._work_dir = work_dir
        self._python = python
        self._echo_logs = echo_logs
        self._pools: dict[str, _FunctionPool] = {}
        self._sinks: dict[str, LogSink] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stopping = threading.Event()
        self._warned_runtimes: set[str] = set()
        self._executor = ThreadPoolExecutor(
            max_workers=async_workers, thread_name_prefix="lambda-async"
        )

    @property
    def log_dir(self) -> Path:
        return self._work_dir / "logs"

    def log_path(self, function_name: str) -> Path:
        return self.log_dir / f"{function_name}.log"

    def tmp_dir(self, function_name: str) -> Path:
        """The function's TMPDIR (Lambda's /tmp)."""
        return self._work_dir / "tmp" / function_name

    def invoke(
        self, config: FunctionConfig, payload: str | bytes, *, invoked_arn: str | None = None
    ) -> InvocationResult:
        request_id = str(uuid.uuid4())
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        try:
            pool, sink = self._pool(config.name)
            worker = self._acquire(pool, config, sink, request_id)
        except WorkerError as failure:
            return self._failed(failure, request_id)
        deadline_ms = int(time.time() * 1000) + config.timeout * 1000
        request = {
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "invoked_function_arn": invoked_arn or config.arn,
            "payload": text,
        }
        try:
            reply = worker.call(request, sink)
        except WorkerError as failure:
            self._discard(config.name, worker)
            return self._failed(failure, request_id)
        self._release(config.name, worker)
        if reply.get("kind") == "result":
            return InvocationResult(
                payload=str(reply["payload"]).encode("utf-8"),
                function_error=None,
                request_id=request_id,
            )
        return self._failed(WorkerError(dict(reply.get("error") or {})), request_id)

    def invoke_async(self, config: FunctionConfig, payload: str | bytes) -> None:
        """Like InvocationType=Event: queue the invocation and return at once."""
        with self._lock:
            if self._closed:
                LOG.warning("%s: runtime stopped; async invocation dropped", config.name)
                return
            self._executor.submit(self._run_async, config, payload)

    def _run_async(self, config: FunctionConfig, payload: str | bytes) -> None:
        """Run an event invocation, retry it after a function error as Lambda does, and
        send it to the failure destination (or drop it) when the retries are used up."""
        attempts = 1 + max(0, config.async_retries)
        for attempt in range(1, attempts + 1):
            try:
                result = self.invoke(config, payload)
            except Exception:
                LOG.exception("%s: async invocation failed", config.name)
                return
            error = result.error()
            if error is None:
                return
            LOG.warning(
                "%s: async invocation %s failed (attempt %d of %d): %s: %s",
                config.name,
                result.request_id,
                attempt,
                attempts,
                error.get("errorType"),
                error.get("errorMessage"),
            )
            if attempt == attempts:
                break
            delay = ASYNC_RETRY_DELAYS[min(attempt, len(ASYNC_RETRY_DELAYS)) - 1]
            if self._stopping.wait(delay):
                return
        if config.on_failure_topic is None:
            LOG.warning("%s: event dropped: no failure destination", config.name)
            return
        record = failure_record(config, payload, result, attempts)
        try:
            local_aws.sns_client(self._endpoint_url, self._region).publish(
                TopicArn=config.on_failure_topic, Message=json.dumps(record)
            )
        except Exception:
            LOG.exception("%s: sending the failed event to its destination failed", config.name)

    @staticmethod
    def _failed(failure: WorkerError, request_id: str) -> InvocationResult:
        error = dict(failure.error)
        error.setdefault("errorType", EXIT_ERROR)
        error.setdefault("errorMessage", "")
        return InvocationResult(
            payload=json.dumps(error).encode("utf-8"),
            function_error=UNHANDLED,
            request_id=request_id,
        )

    # -- pools --------------------------------------------------------------------------

    def _pool(self, function_name: str) -> tuple[_FunctionPool, LogSink]:
        with self._lock:
            if self._closed:
                raise WorkerError(_exit_error("-", "the offline stack is stopping"))
            sink = self._sinks.get(function_name)
            if sink is None:
                sink = LogSink(function_name, self.log_path(function_name), self._echo_logs)
                self._sinks[function_name] = sink
            return self._pools.setdefault(function_name, _FunctionPool()), sink

    def _acquire(
        self, pool: _FunctionPool, config: FunctionConfig, sink: LogSink, request_id: str
    ) -> Worker:
        stale: list[Worker] = []
        with pool.lock:
            worker: Worker | None = None
            while pool.idle:
                candidate = pool.idle.pop()
                if candidate.alive and candidate.config.fingerprint() == config.fingerprint():
                    worker = candidate
                    break
                stale.append(candidate)
            if worker is not None:
                pool.busy.add(worker)
        for old in stale:
            old.stop()
        if worker is not None:
            return worker
        if config.runtime != _INTERPRETER and config.runtime not in self._warned_runtimes:
            self._warned_runtimes.add(config.runtime)
            LOG.warning("%s: runtime %s runs on this %s", config.name, config.runtime, _INTERPRETER)
        worker = Worker(config, self._environment(config), self._python)
        with pool.lock:
            pool.busy.add(worker)
        LOG.debug("%s: starting a worker (%d busy)", config.name, len(pool.busy))
        try:
            worker.start(sink, request_id)
        except WorkerError:
            self._discard(config.name, worker)
            raise
        return worker

    def _release(self, function_name: str, worker: Worker) -> None:
        pool = self._pools[function_name]
        with pool.lock:
            pool.busy.discard(worker)
            if worker.alive and not self._closed:
                pool.idle.append(worker)
                return
        worker.stop()

    def _discard(self, function_name: str, worker: Worker) -> None:
        pool = self._pools[function_name]
        with pool.lock:
            pool.busy.discard(worker)
        worker.kill()

    def _environment(self, config: FunctionConfig) -> dict[str, str]:
        tmp_dir = self.tmp_dir(config.name)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        venv_bin = str(Path(self._python).parent)
        environ = {key: os.environ[key] for key in _BASE_ENV_KEYS if key in os.environ}
        environ["PATH"] = os.pathsep.join([venv_bin, environ.get("PATH", os.defpath)])
        environ.setdefault("LANG", "C.UTF-8")
        environ["VIRTUAL_ENV"] = str(Path(sys.prefix))
        environ["TMPDIR"] = str(tmp_dir)
        environ.update(config.environment)
        python_path = [str(config.code_dir), *(str(path) for path in config.import_dirs)]
        log_stream = f"{time.strftime('%Y/%m/%d')}/[{config.version}]{uuid.uuid4().hex}"
        environ.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "AWS_ENDPOINT_URL": self._endpoint_url,
                "AWS_REGION": self._region,
                "AWS_DEFAULT_REGION": self._region,
                **local_aws.DUMMY_CREDENTIALS,
                # A developer's ~/.aws must not redirect or re-sign the functions' calls.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": config.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "LAMBDA_TASK_ROOT": str(config.code_dir),
                "_HANDLER": config.handler,
                "TZ": "UTC",
                # What `sam local` sets: Powertools then keeps X-Ray tracing off.
                "AWS_SAM_LOCAL": "true",
                **ALLOCATOR_ENVIRONMENT,
            }
        )
        return environ

    # -- shutdown -----------------------------------------------------------------------

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            sinks = list(self._sinks.values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        idle: list[Worker] = []
        for pool in pools:
            with pool.lock:
                idle.extend(pool.idle)
                pool.idle.clear()
                busy = list(pool.busy)
            # An invocation still in flight ends with Runtime.ExitError.
            for worker in busy:
                worker.kill()
        stoppers = [
            threading.Thread(target=worker.stop, name="lambda-stop", daemon=True) for worker in idle
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=STOP_GRACE_SECONDS * 3)
        for sink in sinks:
            sink.close()
