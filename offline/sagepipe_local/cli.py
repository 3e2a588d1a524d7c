"""`sagepipe local up`: the offline stack in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from sagepipe_local.stack import LocalStack, StackInfo

LOG = logging.getLogger(__name__)


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )


def _example_key(info: StackInfo) -> str:
    """An object key the template's S3 trigger reacts to."""
    if info.upload_prefixes:
        return f"{info.upload_prefixes[0]}<model>/data.csv"
    return "data.csv"


def describe(info: StackInfo) -> str:
    endpoint = info.endpoint_url
    lines = [
        "sagepipe offline stack is up",
        f"  AWS endpoint (S3, Lambda, Step Functions, SNS, IAM, SageMaker): {endpoint}",
        "    SageMaker and SageMaker Runtime: emulated (real training and inference)",
        f"  Prediction API: {info.api_url}/",
    ]
    if info.bucket:
        lines.append(f"  Data bucket: {info.bucket}")
    if info.state_machine_arn:
        lines.append(f"  State machine: {info.state_machine_arn}")
    for route in info.routes:
        lines.append(
            f"  Route: {route.method:6} {info.api_url}{route.path} -> {route.function_name}"
        )
    lines.append(f"  Function logs: {info.log_dir}")
    lines.append(
        f"  State dir: {info.state_dir}" if info.state_dir else "  State dir: none (nothing kept)"
    )
    credentials = " ".join(f"{k}={v}" for k, v in info.environment.items() if k != "AWS_REGION")
    lines += ["", "Try:", f"  export {credentials}"]
    if info.bucket:
        key = _example_key(info)
        lines.append(f"  aws --endpoint-url {endpoint} s3 cp data.csv s3://{info.bucket}/{key}")
    if info.state_machine_arn:
        lines.append(
            f"  aws --endpoint-url {endpoint} stepfunctions list-executions "
            f"--state-machine-arn {info.state_machine_arn}"
        )
    post = next((r for r in info.routes if r.method in {"POST", "ANY"}), None)
    get = next((r for r in info.routes if r.method == "GET"), None)
    if get is not None:
        lines.append(f"  curl {info.api_url}{get.path.replace('{', '<').replace('}', '>')}")
    if post is not None:
        path = post.path.replace("{", "<").replace("}", ">")
        lines.append(
            f"  curl -X POST {info.api_url}{path} "
            "-H 'content-type: application/json' -d @request.json"
        )
    lines += ["", "API keys are not checked offline. Ctrl-C stops the stack."]
    return "\n".join(lines)


def run_local_command(args: argparse.Namespace) -> int:
    if args.local_command != "up":
        _say(f"unknown command: local {args.local_command}")
        return 2
    _configure_logging()
    state_dir: Path | None = args.state_dir
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        LOG.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="sagepipe-local-") as scratch:
            work_dir = state_dir / "work" if state_dir is not None else Path(scratch)
            stack = LocalStack(
                port=args.port,
                api_port=args.api_port,
                state_dir=state_dir,
                work_dir=work_dir,
                echo_function_logs=True,
            )
            try:
                info = stack.start()
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    _say(f"a port is already in use ({args.port} or {args.api_port}): {error}")
                    return 1
                raise
            try:
                _say(describe(info))
                stop.wait()
            finally:
                stack.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say("offline stack stopped")
    return 0
