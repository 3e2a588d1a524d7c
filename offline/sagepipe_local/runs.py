"""Client-side helpers: upload data, follow the run it starts, call the prediction API.

Used by the demo and the end-to-end tests; they talk to the stack only through the AWS
APIs and HTTP, as a user would.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class RunResult:
    execution_arn: str
    status: str
    output: dict[str, Any]
    error: str | None
    cause: str | None
    states: list[str]


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: dict[str, Any]


def upload(s3: S3Client, bucket: str, key: str, path: Path) -> str | None:
    """Upload a file; the object's version id identifies the run it starts."""
    with path.open("rb") as body:
        response = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return response.get("VersionId")


def find_execution(
    sfn: SFNClient,
    state_machine_arn: str,
    key: str,
    version_id: str | None,
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
) -> str:
    """The execution started for this exact object version."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
        for page in pages:
            for execution in page["executions"]:
                arn = execution["executionArn"]
                if arn in seen:
                    continue
                seen.add(arn)
                run = json.loads(sfn.describe_execution(executionArn=arn)["input"])["run"]
                if run["key"] == key and run.get("version_id") == version_id:
                    return arn
        time.sleep(interval)
    raise TimeoutError(f"no run started for s3 key {key} (version {version_id})")


def wait_for_execution(
    sfn: SFNClient,
    execution_arn: str,
    timeout: float = 600.0,
    on_state: ProgressCallback | None = None,
) -> RunResult:
    """Poll until the execution ends, reporting each state it enters."""
    started = time.monotonic()
    states: list[str] = []
    reported = 0
    while True:
        # Status first, history second: a run that ends in between still has its last
        # states in the history read after it.
        described = sfn.describe_execution(executionArn=execution_arn)
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
        entered = [
            event["stateEnteredEventDetails"]["name"]
            for event in history["events"]
            if "stateEnteredEventDetails" in event
        ]
        for name in entered[reported:]:
            states.append(name)
            if on_state is not None:
                on_state(name, time.monotonic() - started)
        reported = len(entered)
        if described["status"] != "RUNNING":
            return RunResult(
                execution_arn=execution_arn,
                status=described["status"],
                output=json.loads(described.get("output") or "{}"),
                error=described.get("error"),
                cause=described.get("cause"),
                states=states,
            )
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout:.0f} s")
        time.sleep(0.25)


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 30.0) -> HttpAnswer:
    """POST (with a payload) or GET a JSON API; HTTP errors are answers, not exceptions."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, json.loads(error.read() or b"{}"))
