"""The Step Functions interpreter's Lambda client: which calls stay in process."""

from __future__ import annotations

from typing import Any

import pytest

from sagepipe_local import moto_hooks
from sagepipe_local.lambda_invoke import Invocation


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        self.calls.append(parameters)
        return {"StatusCode": 202, "via": "http"}

    def get_function(self, **parameters: Any) -> str:
        return "passed through"


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes, str | None]]:
    seen: list[tuple[str, bytes, str | None]] = []

    def fake(
        function_name: str, payload: bytes, *, region: str, qualifier: str | None = None
    ) -> Invocation | None:
        seen.append((function_name, payload, qualifier))
        if function_name == "unknown":
            return None
        error = "Unhandled" if function_name == "failing" else None
        return Invocation(payload=b'{"ok": 1}', function_error=error, executed_version="$LATEST")

    monkeypatch.setattr(moto_hooks, "invoke_in_process", fake)
    return seen


def test_a_request_response_task_is_invoked_in_process(
    in_process: list[tuple[str, bytes, str | None]],
) -> None:
    wrapped = RecordingClient()
    client = moto_hooks.InProcessLambdaClient(wrapped, "us-east-1")
    answer = client.invoke(FunctionName="fn", Payload=b'{"a": 1}', Qualifier="$LATEST")
    assert answer["StatusCode"] == 200
    assert answer["Payload"].read() == b'{"ok": 1}'
    assert "FunctionError" not in answer
    failed = client.invoke(FunctionName="failing", Payload="{}")
    assert failed["FunctionError"] == "Unhandled"
    assert in_process == [("fn", b'{"a": 1}', "$LATEST"), ("failing", b"{}", None)]
    assert wrapped.calls == []


@pytest.mark.parametrize(
    "parameters",
    [
        {"FunctionName": "unknown", "Payload": b"{}"},  # the API answers the error
        {"FunctionName": "fn", "Payload": b"{}", "InvocationType": "Event"},
        {"FunctionName": "fn", "Payload": b"{}", "LogType": "Tail"},
    ],
)
def test_other_calls_go_to_the_lambda_api(
    in_process: list[tuple[str, bytes, str | None]], parameters: dict[str, Any]
) -> None:
    wrapped = RecordingClient()
    client = moto_hooks.InProcessLambdaClient(wrapped, "us-east-1")
    assert client.invoke(**parameters) == {"StatusCode": 202, "via": "http"}
    assert wrapped.calls == [parameters]
    assert client.get_function(FunctionName="fn") == "passed through"
