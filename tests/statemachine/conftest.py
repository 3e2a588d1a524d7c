"""Run the real statemachine/pipeline.asl.json in moto with scripted Lambda behaviours.

moto 5.2.5 executes state machines when configured with
`{"stepfunctions": {"execute_state_machine": True}}`. Every Lambda Task goes through
`moto.awslambda.models.LambdaFunction.invoke(self, body, request_headers,
response_headers) -> bytes`, which normally runs the function in Docker. The fixture
replaces that one method with a dispatcher to plain Python callables, one per function,
so no handler code is needed:

- a behaviour receives the task's payload (the state's effective input) and returns the
  JSON-serialisable result, which lands at the state's ResultPath;
- a behaviour that raises becomes a Lambda function error whose `errorType` is the
  exception's class name, exactly as the Python runtime reports it, so Retry and Catch
  match on it.

Leave `{"lambda": {"use_docker": False}}` out of the moto config: that switches to
`LambdaSimpleBackend`, whose invoke never calls `LambdaFunction.invoke`.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

REPO = Path(__file__).resolve().parents[2]
ASL_PATH = REPO / "statemachine" / "pipeline.asl.json"
TEMPLATE_PATH = REPO / "template.yaml"
EVENTS = REPO / "tests" / "events"
REGION = "us-east-1"

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")

# DefinitionSubstitutions key -> the function's directory name (used as the moto name).
FUNCTIONS: dict[str, str] = {
    "PreprocessFunctionArn": "preprocess",
    "StartProcessingFunctionArn": "start_processing",
    "CollectProcessingFunctionArn": "collect_processing",
    "StartTrainingFunctionArn": "start_training",
    "JobStatusFunctionArn": "job_status",
    "StartTransformFunctionArn": "start_transform",
    "EvaluateFunctionArn": "evaluate",
    "DeployFunctionArn": "deploy",
    "RecordLiveFunctionArn": "record_live",
    "NotifyFunctionArn": "notify",
}

Event = dict[str, Any]
Behaviour = Callable[[Event], Any]


def load_asl_text() -> str:
    return ASL_PATH.read_text(encoding="utf-8")


def load_event(name: str) -> Event:
    loaded: Event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that turns CloudFormation short tags (!Ref, !Sub, ...) into maps."""


def _cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return loaded


@dataclass
class Call:
    function: str
    payload: Event


@dataclass
class FakeLambdas:
    """Per-function scripted behaviours and a thread-safe record of every call."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_to(self, function: str) -> list[Event]:
        with self._lock:
            return [call.payload for call in self.calls if call.function == function]

    def invoke(self, function: str, body: str | bytes | None) -> tuple[bytes, bool]:
        """Return (response payload, errored) the way the Lambda service would."""
        payload: Event = json.loads(body) if body else {}
        with self._lock:
            self.calls.append(Call(function, payload))
        behaviour = self.behaviours.get(function)
        if behaviour is None:
            return _error_payload("ScriptError", f"no behaviour scripted for {function}"), True
        try:
            result = behaviour(payload)
        except Exception as error:  # noqa: BLE001 - becomes a Lambda function error
            return _error_payload(type(error).__name__, str(error)), True
        return json.dumps(result).encode("utf-8"), False


def _error_payload(error_type: str, message: str) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "stackTrace": []}
    return json.dumps(body).encode("utf-8")


@dataclass(frozen=True)
class ExecutionResult:
    status: str
    output: Event | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    seconds: float

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if "stateEnteredEventDetails" in event
        ]


@dataclass
class Pipeline:
    """The deployed state machine plus the fake Lambdas behind it."""

    lambdas: FakeLambdas
    state_machine_arn: str
    function_arns: dict[str, str]
    _counter: int = 0

    def run(self, execution_input: Event, timeout: float = 30.0) -> ExecutionResult:
        client = boto3.client("stepfunctions", region_name=REGION)
        self._counter += 1
        started = time.monotonic()
        arn = client.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"run-{self._counter}",
            input=json.dumps(execution_input),
        )["executionArn"]
        while True:
            described = client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                pytest.fail(f"execution still RUNNING after {timeout} s")
            time.sleep(0.02)
        seconds = time.monotonic() - started
        history = client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        output = described.get("output")
        return ExecutionResult(
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=list(history),  # type: ignore[arg-type]
            seconds=seconds,
        )


def _handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def substitute(definition: str, values: dict[str, str]) -> str:
    """Replace every ${Key} like CloudFormation's DefinitionSubstitutions; fail on unknowns."""
    missing = sorted(set(PLACEHOLDER.findall(definition)) - set(values))
    if missing:
        raise KeyError(f"no substitution for {missing}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], definition)


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """moto with the real ASL deployed; script `pipeline.lambdas.behaviours[<dir>]`."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_SFN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    lambdas = FakeLambdas()

    def fake_invoke(
        self: LambdaFunction, body: str, request_headers: Any, response_headers: Any
    ) -> bytes:
        payload, errored = lambdas.invoke(self.function_name, body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    monkeypatch.setattr(LambdaFunction, "invoke", fake_invoke)

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        iam = boto3.client("iam", region_name=REGION)
        role_arn = iam.create_role(
            RoleName="sagepipe-test",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name=REGION)
        code = _handler_zip()
        arns = {
            key: lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role_arn,
                Handler="app.lambda_handler",
                Code={"ZipFile": code},
                Architectures=["arm64"],
            )["FunctionArn"]
            for key, name in FUNCTIONS.items()
        }
        sfn = boto3.client("stepfunctions", region_name=REGION)
        state_machine_arn = sfn.create_state_machine(
            name="sagepipe-pipeline",
            definition=substitute(load_asl_text(), arns),
            roleArn=role_arn,
        )["stateMachineArn"]
        yield Pipeline(lambdas=lambdas, state_machine_arn=state_machine_arn, function_arns=arns)
