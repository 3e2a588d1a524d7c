"""The mini template deployed offline: real handlers behind Lambda, S3, Step Functions, API."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest

from sagepipe_local.lambda_invoke import invoke_in_process
from sagepipe_local.processes import ALLOCATOR_ENVIRONMENT
from sagepipe_local.stack import LocalStack

pytestmark = pytest.mark.offline

FIXTURES = Path(__file__).parent / "fixtures"


def wait_for[T](probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def invoke(stack: LocalStack, logical_id: str, event: Any, **kwargs: Any) -> dict[str, Any]:
    response = stack.client("lambda").invoke(
        FunctionName=stack.info.functions[logical_id],
        Payload=json.dumps(event).encode(),
        **kwargs,
    )
    return {
        "status": response["StatusCode"],
        "error": response.get("FunctionError"),
        "payload": json.loads(response["Payload"].read() or b"null"),
    }


def objects(stack: LocalStack, prefix: str) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def wait_execution(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return None if described["status"] == "RUNNING" else described

    return wait_for(finished, timeout=30)


def request(
    stack: LocalStack,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    url = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


# -- deployment ---------------------------------------------------------------------------


def test_deployment_resolves_intrinsics_conditions_and_outputs(mini_stack: LocalStack) -> None:
    info = mini_stack.info
    assert info.bucket == "sagepipe-databucket"  # BucketName was AWS::NoValue: generated
    assert info.outputs["DataBucketName"] == info.bucket
    assert info.outputs["StateMachineArn"] == info.state_machine_arn
    assert info.outputs["HelperRoleArn"] == "arn:aws:iam::123456789012:role/sagepipe-helper"
    assert info.outputs["ApiUrl"] == f"{info.api_url}/prod/"  # execute-api URL -> local
    assert "ApiKeyId" not in info.outputs  # API keys are not emulated
    assert "ChocolateTopicArn" not in info.outputs  # condition false
    assert mini_stack.deployment is not None
    assert set(mini_stack.deployment.topics) == {"Topic"}
    skipped = mini_stack.deployment.skipped
    assert skipped["DataBucketPolicy"] == "AWS::S3::BucketPolicy"
    assert skipped["HelperRole"] == "AWS::IAM::Role"
    assert "ChocolateTopic" not in skipped

    s3 = mini_stack.client("s3")
    assert s3.get_bucket_versioning(Bucket=info.bucket)["Status"] == "Enabled"
    notifications = s3.get_bucket_notification_configuration(Bucket=info.bucket)
    rules = {
        config["LambdaFunctionArn"].rsplit(":", 1)[-1]: config["Filter"]["Key"]["FilterRules"]
        for config in notifications["LambdaFunctionConfigurations"]
    }
    assert {r["Value"] for r in rules["sagepipe-RecorderFunction"]} == {"incoming/"}
    assert {r["Value"] for r in rules["sagepipe-GateFunction"]} == {"gated/", ".csv"}
    assert info.upload_prefixes == ("incoming/", "gated/")

    layers = mini_stack.client("lambda").get_function(FunctionName=info.functions["EchoFunction"])
    configuration = layers["Configuration"]
    assert configuration["MemorySize"] == 256
    assert configuration["Architectures"] == ["arm64"]
    assert [layer["Arn"].split(":")[-2] for layer in configuration["Layers"]] == [
        "HelperLayer",
        "RequirementsLayer",
    ]


# -- Lambda runtime -----------------------------------------------------------------------


def test_handler_sees_environment_layers_and_context(
    mini_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers get a clean environment, not the stack process's.
    monkeypatch.setenv("SAGEPIPE_LEAK_CHECK", "1")
    info = mini_stack.info
    result = invoke(mini_stack, "EchoFunction", {"hello": "world"})
    assert result["status"] == 200
    assert result["error"] is None
    answer = result["payload"]
    env = answer["env"]
    assert answer["event"] == {"hello": "world"}
    assert env["GREETING"] == "hi"  # parameter override
    assert env["SHARED"] == "from-function"  # the function's value beats Globals
    assert env["DATA_BUCKET"] == info.bucket  # from Globals
    assert env["SUBBED"] == (
        "us-east-1:123456789012:arn:aws:s3:::sagepipe-databucket:hi:${NotReplaced}"
    )
    assert env["JOINED"] == "medium|a"
    assert env["SCOOPS"] == "1"
    assert env["FLAVOR_TEXT"] == "plain"
    assert env["BOTH"] == "yes"
    assert env["POLL_SECONDS"] == "1"  # the offline default for PollSeconds
    assert env["OPTIONAL"] is None  # !If [..., ..., AWS::NoValue] removed the variable
    assert env["TOPIC_ARN"] == "arn:aws:sns:us-east-1:123456789012:sagepipe-Topic"
    assert env["MACHINE_ARN"] == info.state_machine_arn
    assert env["AWS_ENDPOINT_URL"] == info.endpoint_url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "sagepipe-EchoFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert "SAGEPIPE_LEAK_CHECK" not in answer["env_names"]
    assert set(ALLOCATOR_ENVIRONMENT) <= set(answer["env_names"])  # as the plain baseline's

    code_dir = FIXTURES / "functions" / "echo"
    assert Path(answer["cwd"]) == code_dir
    assert env["PYTHONPATH"].split(os.pathsep) == [
        str(code_dir),
        str(FIXTURES / "layers" / "helper"),
        str(FIXTURES / "layers" / "reqs"),
    ]
    assert answer["layer"] == "from-helper-layer"
    assert answer["sibling"] == "from-code-dir"

    context = answer["context"]
    assert context["function_name"] == "sagepipe-EchoFunction"
    assert context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:sagepipe-EchoFunction")
    assert context["log_group_name"] == "/aws/lambda/sagepipe-EchoFunction"
    assert context["aws_request_id"]
    assert 0 < context["remaining_ms"] <= 10_000


def test_warm_worker_is_reused_and_logs_stay_out_of_the_protocol(mini_stack: LocalStack) -> None:
    first = invoke(mini_stack, "EchoFunction", {})["payload"]
    second = invoke(mini_stack, "EchoFunction", {})["payload"]
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1
    assert mini_stack.runtime is not None
    log = mini_stack.runtime.log_path("sagepipe-EchoFunction")
    request_id = second["context"]["aws_request_id"]

    def logged() -> str | None:
        text = log.read_text() if log.exists() else ""
        return text if f"END RequestId: {request_id}" in text else None

    text = wait_for(logged)
    assert f"START RequestId: {request_id}" in text
    assert "echo says hello on stdout" in text
    assert "echo says hello on stderr" in text


def test_a_busy_function_gets_another_worker(mini_stack: LocalStack) -> None:
    release = f"release-{uuid.uuid4().hex}"
    blocked: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: blocked.update(invoke(mini_stack, "EchoFunction", {"wait_for": release}))
    )
    tmp_dir = mini_stack.info.work_dir / "tmp" / "sagepipe-EchoFunction"
    thread.start()
    try:
        wait_for((tmp_dir / f"{release}.waiting").exists)
        # The first worker cannot answer until `release` exists, so this needs a second.
        other = invoke(mini_stack, "EchoFunction", {"probe": True})["payload"]
    finally:
        (tmp_dir / release).write_text("go")
        thread.join(timeout=30)
    assert blocked["payload"]["pid"] != other["pid"]


def test_handler_exception_is_a_function_error(mini_stack: LocalStack) -> None:
    result = invoke(mini_stack, "CrashFunction", {})
    assert result["status"] == 200
    assert result["error"] == "Unhandled"
    error = result["payload"]
    assert error["errorType"] == "CrashError"
    assert error["errorMessage"] == "boom"
    assert any("app.py" in frame and "lambda_handler" in frame for frame in error["stackTrace"])


def test_timeout_kills_the_worker_and_the_next_call_works(mini_stack: LocalStack) -> None:
    result = invoke(mini_stack, "SlowFunction", {"sleep": 5})
    assert result["error"] == "Unhandled"
    assert result["payload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result["payload"]["errorMessage"]
    assert invoke(mini_stack, "SlowFunction", {"sleep": 0})["payload"] == {"slept": 0}


def test_in_process_invocation_answers_as_the_lambda_api_does(mini_stack: LocalStack) -> None:
    """What Step Functions tasks and API routes use instead of the HTTP Lambda API."""
    region = mini_stack.info.region
    for logical_id, event in (
        ("EchoFunction", {"name": "x"}),
        ("FlakyFunction", {"permanent": True, "name": "x"}),
        ("EchoFunction", {"pad_bytes": 6_500_000}),  # over the 6 MB response limit
    ):
        name = mini_stack.info.functions[logical_id]
        over_http = invoke(mini_stack, logical_id, event)
        in_process = invoke_in_process(name, json.dumps(event).encode(), region=region)
        assert in_process is not None
        assert in_process.function_error == over_http["error"]
        answer = json.loads(in_process.payload)
        if over_http["error"] is None:
            assert answer["event"] == over_http["payload"]["event"]
        else:
            assert answer["errorType"] == over_http["payload"]["errorType"]
            assert answer["errorMessage"] == over_http["payload"]["errorMessage"]
    assert over_http["payload"]["errorType"] == "Function.ResponseSizeTooLarge"
    echo = mini_stack.info.functions["EchoFunction"]
    arn = mini_stack.client("lambda").get_function(FunctionName=echo)["Configuration"]
    by_arn = invoke_in_process(arn["FunctionArn"], b"{}", region="eu-west-1")
    assert by_arn is not None and by_arn.function_error is None  # the ARN names the region
    assert invoke_in_process(f"{echo}-missing", b"{}", region=region) is None


def test_event_invocation_returns_202_and_runs_later(mini_stack: LocalStack) -> None:
    before = set(objects(mini_stack, "records/"))
    result = invoke(mini_stack, "RecorderFunction", {"direct": True}, InvocationType="Event")
    assert result["status"] == 202
    new = wait_for(lambda: set(objects(mini_stack, "records/")) - before)
    (key,) = new
    body = mini_stack.client("s3").get_object(Bucket=mini_stack.bucket, Key=key)["Body"].read()
    assert json.loads(body) == {"direct": True}


def _failure_records(stack: LocalStack, topic_arn: str) -> list[dict[str, Any]]:
    """What the Topic was sent (moto keeps every message it publishes)."""
    from moto.sns.models import sns_backends

    _, _, _, region, account, _ = topic_arn.split(":")
    sent = sns_backends[account][region].topics[topic_arn].sent_notifications
    return [json.loads(message) for _, message, *_ in sent]


def test_failed_event_invocation_is_retried_then_sent_to_its_destination(
    mini_stack: LocalStack,
) -> None:
    topic_arn = mini_stack.deployment.topics["Topic"]
    before = len(_failure_records(mini_stack, topic_arn))
    token = uuid.uuid4().hex
    event = {"token": token, "fail_times": 5}
    invoke(mini_stack, "FlakyFunction", event, InvocationType="Event")

    records = wait_for(lambda: _failure_records(mini_stack, topic_arn)[before:])
    (record,) = records
    # MaximumRetryAttempts 1: two attempts, the second one's error is what is reported.
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(":$LATEST")
    assert record["requestPayload"] == event
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RetryableError"
    assert record["responsePayload"]["errorMessage"] == "attempt 2 failed"


def test_event_invocation_that_succeeds_on_retry_sends_nothing(mini_stack: LocalStack) -> None:
    topic_arn = mini_stack.deployment.topics["Topic"]
    before = len(_failure_records(mini_stack, topic_arn))
    token = uuid.uuid4().hex
    invoke(mini_stack, "FlakyFunction", {"token": token, "fail_times": 1}, InvocationType="Event")

    assert mini_stack.runtime is not None
    name = mini_stack.info.functions["FlakyFunction"]
    counter = mini_stack.runtime.tmp_dir(name) / f"attempts-{token}"
    # The retry comes a second after the failure, and succeeds.
    wait_for(lambda: counter.exists() and counter.read_text() == "2")
    time.sleep(0.5)
    assert _failure_records(mini_stack, topic_arn)[before:] == []


# -- S3 -> Lambda -------------------------------------------------------------------------


def test_upload_triggers_function_with_s3_event(mini_stack: LocalStack) -> None:
    s3 = mini_stack.client("s3")
    before = set(objects(mini_stack, "records/"))
    s3.put_object(Bucket=mini_stack.bucket, Key="elsewhere/ignored.csv", Body=b"x")
    key = "incoming/my model/a+b=c.csv"
    put = s3.put_object(Bucket=mini_stack.bucket, Key=key, Body=b"x,y\n1,2\n")
    new = wait_for(lambda: set(objects(mini_stack, "records/")) - before)
    assert len(new) == 1  # the object outside incoming/ started nothing
    (record_key,) = new
    event = json.loads(s3.get_object(Bucket=mini_stack.bucket, Key=record_key)["Body"].read())
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["bucket"]["name"] == mini_stack.bucket
    assert record["s3"]["configurationId"] == "RecorderFunctionUpload"
    obj = record["s3"]["object"]
    assert obj["key"] == "incoming/my+model/a%2Bb%3Dc.csv"  # URL-encoded, as AWS sends it
    assert unquote_plus(obj["key"]) == key
    assert obj["size"] == 8
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["versionId"] == put["VersionId"]
    assert obj["sequencer"]
    assert record["userIdentity"]["principalId"]


def test_notification_does_not_hold_up_the_upload(mini_stack: LocalStack) -> None:
    s3 = mini_stack.client("s3")
    name = f"{uuid.uuid4().hex}.csv"
    s3.put_object(Bucket=mini_stack.bucket, Key=f"gated/{name}", Body=b"x")
    # Delivered synchronously, the put above could not have returned before this exists.
    assert objects(mini_stack, f"done/{name}") == []
    s3.put_object(Bucket=mini_stack.bucket, Key=f"release/{name}", Body=b"go")
    wait_for(lambda: objects(mini_stack, f"done/{name}"))


# -- Step Functions -------------------------------------------------------------------------


def _run(mini_stack: LocalStack, execution_input: dict[str, Any]) -> dict[str, Any]:
    sfn = mini_stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=mini_stack.state_machine_arn,
        name=f"test-{uuid.uuid4().hex[:12]}",
        input=json.dumps(execution_input),
    )
    return wait_execution(mini_stack, started["executionArn"])


def test_state_machine_retries_a_handler_error_by_class_name(mini_stack: LocalStack) -> None:
    described = _run(mini_stack, {"token": uuid.uuid4().hex, "fail_times": 1})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["flaky"] == {"attempts": 2}
    assert output["echo"]["echoed"]["flaky"] == {"attempts": 2}  # lambda:invoke + Payload.$


def test_state_machine_catches_a_handler_error_by_class_name(mini_stack: LocalStack) -> None:
    described = _run(mini_stack, {"permanent": True, "name": "x"})
    assert described["status"] == "SUCCEEDED"
    caught = json.loads(described["output"])["caught"]
    assert caught["error"] == "PermanentError"
    cause = json.loads(caught["cause"])
    assert cause["errorType"] == "PermanentError"
    assert cause["errorMessage"] == "cannot process 'x'"


def test_state_machine_fails_when_retries_run_out(mini_stack: LocalStack) -> None:
    described = _run(mini_stack, {"token": uuid.uuid4().hex, "fail_times": 5})
    assert described["status"] == "FAILED"
    assert described["error"] == "RetryableError"
    assert json.loads(described["cause"])["errorMessage"] == "attempt 3 failed"


def test_unnamed_executions_get_distinct_names(mini_stack: LocalStack) -> None:
    sfn = mini_stack.client("stepfunctions")
    arns = {
        sfn.start_execution(
            stateMachineArn=mini_stack.state_machine_arn,
            input=json.dumps({"permanent": True}),
        )["executionArn"]
        for _ in range(2)
    }
    assert len(arns) == 2
    for arn in arns:
        wait_execution(mini_stack, arn)


# -- API Gateway --------------------------------------------------------------------------


def test_api_route_with_path_parameter_gets_a_proxy_event(mini_stack: LocalStack) -> None:
    status, headers, body = request(
        mini_stack, "GET", "/items/42?x=1&x=2&y=3", headers={"X-Custom": "abc"}
    )
    assert status == 200
    assert headers["X-Echo"] == "yes"
    assert headers.get_all("X-Multi") == ["a", "b"]
    event = json.loads(body)["event"]
    assert event["resource"] == "/items/{item}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item": "42"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["X-Custom"] == "abc"
    assert event["multiValueHeaders"]["X-Custom"] == ["abc"]
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["resourcePath"] == "/items/{item}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/prod/items/42"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"]
    assert context["accountId"] == "123456789012"
    assert mini_stack.deployment is not None
    assert context["apiId"] == mini_stack.deployment.apis["Api"]


def test_api_post_with_stage_prefix_and_body(mini_stack: LocalStack) -> None:
    status, _, body = request(
        mini_stack,
        "POST",
        "/prod/items/7/notes",
        body=b'{"note": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 201
    event = json.loads(body)["event"]
    assert event["path"] == "/items/7/notes"  # the stage is not part of the path
    assert event["pathParameters"] == {"item": "7"}
    assert event["body"] == '{"note": 1}'
    assert event["queryStringParameters"] is None


def test_api_greedy_path_and_any_method(mini_stack: LocalStack) -> None:
    status, _, body = request(mini_stack, "DELETE", "/files/a/b/c.txt")
    assert status == 200
    event = json.loads(body)["event"]
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    assert event["resource"] == "/files/{path+}"


def test_api_binary_answer_is_decoded(mini_stack: LocalStack) -> None:
    status, headers, body = request(mini_stack, "GET", "/files/binary")
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert body == b"\x00\x01binary"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/items/1")])
def test_api_without_route_is_403(mini_stack: LocalStack, method: str, path: str) -> None:
    status, headers, body = request(mini_stack, method, path)
    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("path", ["/crash", "/files/malformed"])
def test_api_function_error_or_bad_answer_is_502(mini_stack: LocalStack, path: str) -> None:
    status, _, body = request(mini_stack, "GET", path)
    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}
