"""One warm Lambda execution environment: imports a handler once, then serves invocations.

Started by `lambda_runtime` as `python -m sagepipe_local.lambda_worker HANDLER IN_FD OUT_FD`
with cwd = the function's code directory. Requests and replies are newline-delimited JSON
on the two inherited pipe descriptors, never on stdout/stderr: those belong to the
handler (its logs), which the parent copies to the function's log file.

Messages, worker -> parent: {"kind": "ready"} | {"kind": "init_error", "error": E} |
{"kind": "result", "payload": "<json>"} | {"kind": "error", "error": E}, where E is the
AWS error shape {"errorMessage", "errorType", "requestId"?, "stackTrace"}.
Parent -> worker: {"request_id", "deadline_ms", "invoked_function_arn", "payload"}.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import resource
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

Handler = Callable[[Any, "LambdaContext"], Any]

IMPORT_MODULE_ERROR: Final = "Runtime.ImportModuleError"
SYNTAX_ERROR: Final = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND: Final = "Runtime.HandlerNotFound"
MALFORMED_HANDLER: Final = "Runtime.MalformedHandlerName"
MARSHAL_ERROR: Final = "Runtime.MarshalError"
UNMARSHAL_ERROR: Final = "Runtime.UnmarshalError"


class _Invocation(threading.local):
    request_id: str = ""


_CURRENT = _Invocation()


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # A string on AWS too (it is read from AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.payload = {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _CURRENT.request_id
        return True


def _install_root_log_handler() -> None:
    """Like the Lambda Python runtime: root records go to stdout with the request id."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _load_handler(spec: str) -> Handler:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise _InitError(MALFORMED_HANDLER, f"Bad handler '{spec}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise _InitError(
            IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {error}"
        ) from error
    except SyntaxError as error:
        raise _InitError(
            SYNTAX_ERROR,
            f"Syntax error in module '{module_name}': {error}",
            [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}'],
        ) from error
    except Exception as error:  # any init failure is reported, as on AWS
        raise _InitError(type(error).__name__, str(error), _stack(error)) from error
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError(
            HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return handler  # type: ignore[no-any-return]


def _stack(error: BaseException, skip: int = 0) -> list[str]:
    frames = traceback.extract_tb(error.__traceback__)[skip:]
    return traceback.format_list(frames)


def _decimal_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _log_line(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, (text + "\n").encode("utf-8", "replace"))


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0"


def _invoke(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    request_id = str(request["request_id"])
    _CURRENT.request_id = request_id
    os.environ["_X_AMZN_TRACE_ID"] = _trace_id()
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    _log_line(f"START RequestId: {request_id} Version: {version}")
    started = time.monotonic()
    reply: dict[str, Any]
    try:
        raw = request.get("payload") or "{}"
        try:
            event = json.loads(raw)
        except json.JSONDecodeError as error:
            reply = _error_reply(UNMARSHAL_ERROR, f"Unable to unmarshal input: {error}", request_id)
            return reply
        context = LambdaContext(
            request_id, int(request["deadline_ms"]), str(request["invoked_function_arn"])
        )
        try:
            result = handler(event, context)
        except Exception as error:  # noqa: BLE001 - the handler's error is the function error
            # Skip this frame: AWS's stack trace starts in the handler.
            stack = _stack(error, skip=1)
            _log_line(
                f"[ERROR] {type(error).__name__}: {error}\n"
                "Traceback (most recent call last):\n" + "".join(stack).rstrip("\n")
            )
            reply = _error_reply(type(error).__name__, str(error), request_id, stack)
        else:
            try:
                payload = json.dumps(result, default=_decimal_default)
            except (TypeError, ValueError) as error:
                reply = _error_reply(
                    MARSHAL_ERROR, f"Unable to marshal response: {error}", request_id
                )
            else:
                reply = {"kind": "result", "payload": payload}
        return reply
    finally:
        elapsed_ms = (time.monotonic() - started) * 1000
        max_rss_mb = _max_memory_mb()
        memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        _log_line(f"END RequestId: {request_id}")
        _log_line(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
            f"Billed Duration: {int(elapsed_ms) + 1} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {max_rss_mb} MB"
        )
        _CURRENT.request_id = ""


def _max_memory_mb() -> int:
    # VmHWM is this process image's peak; ru_maxrss can carry the parent's from before exec.
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _error_reply(
    error_type: str, message: str, request_id: str, stack: list[str] | None = None
) -> dict[str, Any]:
    return {
        "kind": "error",
        "error": {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack or [],
        },
    }


def _send(channel: IO[bytes], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message).encode("utf-8") + b"\n")
    channel.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.stderr.write("usage: python -m sagepipe_local.lambda_worker HANDLER IN_FD OUT_FD\n")
        return 2
    spec, in_fd, out_fd = args[0], int(args[1]), int(args[2])
    # Keep the protocol pipes out of any process the handler starts.
    os.set_inheritable(in_fd, False)
    os.set_inheritable(out_fd, False)
    with os.fdopen(in_fd, "rb") as requests, os.fdopen(out_fd, "wb") as replies:
        _install_root_log_handler()
        try:
            handler = _load_handler(spec)
        except _InitError as error:
            _log_line(f"[ERROR] {error.payload['errorType']}: {error.payload['errorMessage']}")
            _send(replies, {"kind": "init_error", "error": error.payload})
            return 1
        _send(replies, {"kind": "ready"})
        for line in requests:
            if line.strip():
                _send(replies, _invoke(handler, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
