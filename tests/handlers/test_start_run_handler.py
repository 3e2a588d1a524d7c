"""start_run: S3 upload events -> exactly one state machine execution per uploaded object."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sagepipe.errors import TransientError

from .conftest import ACCOUNT, BUCKET, REGION, FakeLambdaContext, HandlerLoader, load_event

EVENT_STAMP = "20261120093000"
DECODED_KEY = "incoming/my-model/data 2024.csv"
SEQUENCER = "0066F1A2B3C4D5E6F7"


def _expected_version(key: str = DECODED_KEY, identity: str = SEQUENCER) -> str:
    digest = hashlib.sha256(f"{BUCKET}/{key}/{identity}".encode()).hexdigest()[:8]
    return f"{EVENT_STAMP}-{digest}"


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def state_machine_arn(sfn: Any) -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    response = sfn.create_state_machine(
        name="sagepipe-pipeline",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sagepipe-states",
    )
    arn: str = response["stateMachineArn"]
    return arn


@pytest.fixture
def handler(load_handler: HandlerLoader, state_machine_arn: str) -> Any:
    return load_handler("start_run", STATE_MACHINE_ARN=state_machine_arn)


def _executions(sfn: Any, state_machine_arn: str) -> list[dict[str, Any]]:
    executions: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=state_machine_arn)[
        "executions"
    ]
    return executions


def _event_with_keys(*keys: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    template = load_event("s3_put_incoming.json")["Records"][0]
    records = []
    for index, key in enumerate(keys):
        record = copy.deepcopy(template)
        record["eventName"] = event_name
        record["s3"]["object"]["key"] = key
        record["s3"]["object"]["sequencer"] = f"{SEQUENCER}{index:02d}"
        records.append(record)
    return {"Records": records}


def test_url_encoded_key_starts_one_execution_named_model_version(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    result = handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)

    version = _expected_version()
    run_id = f"my-model-{version}"
    executions = _executions(sfn, state_machine_arn)
    assert [execution["name"] for execution in executions] == [run_id]
    assert result == {
        "runs": [
            {
                "run_id": run_id,
                "status": "started",
                "execution_arn": executions[0]["executionArn"],
            }
        ]
    }
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {
        "run": {
            "run_id": run_id,
            "model": "my-model",
            "version": version,
            "bucket": BUCKET,
            "key": DECODED_KEY,
            "version_id": None,
            "size": 48213,
            "poll_seconds": 5,
        }
    }


def test_same_event_delivered_twice_starts_one_execution(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    first = handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)
    second = handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)

    executions = _executions(sfn, state_machine_arn)
    assert len(executions) == 1
    assert first["runs"][0]["run_id"] == second["runs"][0]["run_id"] == executions[0]["name"]
    # A running execution with the same name and input is returned as is (StartExecution
    # is idempotent); a finished one answers ExecutionAlreadyExists.
    assert second["runs"][0]["status"] in {"started", "already-started"}
    assert second["runs"][0].get("execution_arn") in {None, executions[0]["executionArn"]}


def test_redelivery_after_the_run_ended_is_already_started(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    first = handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)
    sfn.stop_execution(executionArn=first["runs"][0]["execution_arn"])

    again = handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)

    assert again == {"runs": [{"run_id": first["runs"][0]["run_id"], "status": "already-started"}]}
    assert len(_executions(sfn, state_machine_arn)) == 1


def test_non_data_keys_are_ignored(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    event = _event_with_keys(
        "incoming/my-model/pipeline.json",
        "incoming/data.csv",
        "incoming/my-model/nested/data.csv",
        "incoming/my-model/readme.txt",
        "runs/my-model/run/data/train/train.csv",
        "models/my-model/live.json",
    )
    assert handler.lambda_handler(event, lambda_context) == {"runs": []}
    assert _executions(sfn, state_machine_arn) == []


def test_events_other_than_object_created_are_ignored(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    removed = _event_with_keys("incoming/my-model/data.csv", event_name="ObjectRemoved:Delete")
    assert handler.lambda_handler(removed, lambda_context) == {"runs": []}
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    assert handler.lambda_handler(test_event, lambda_context) == {"runs": []}
    assert _executions(sfn, state_machine_arn) == []


def test_compressed_csv_starts_a_run(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    result = handler.lambda_handler(
        _event_with_keys("incoming/housing/data.csv.gz"), lambda_context
    )
    assert [run["status"] for run in result["runs"]] == ["started"]
    assert _executions(sfn, state_machine_arn)[0]["name"].startswith("housing-")


def test_invalid_model_name_still_starts_a_run(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    event = _event_with_keys("incoming/My_Model/data.csv")
    result = handler.lambda_handler(event, lambda_context)

    (execution,) = _executions(sfn, state_machine_arn)
    version = _expected_version("incoming/My_Model/data.csv", f"{SEQUENCER}00")
    assert execution["name"] == f"invalid-model-{version}"
    assert result["runs"][0]["run_id"] == execution["name"]
    run = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["run"]
    # The run keeps the name the user chose, so that Preprocess can say what is wrong with it.
    assert run["model"] == "My_Model"
    assert run["run_id"] == execution["name"]


def test_each_uploaded_object_gets_its_own_run(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    event = _event_with_keys(
        "incoming/housing/a.csv", "incoming/my-model/pipeline.json", "incoming/prices/b.csv"
    )
    result = handler.lambda_handler(event, lambda_context)
    assert [run["status"] for run in result["runs"]] == ["started", "started"]
    names = sorted(execution["name"] for execution in _executions(sfn, state_machine_arn))
    assert [name.split("-")[0] for name in names] == ["housing", "prices"]


def test_new_object_version_of_the_same_key_is_a_new_run(
    handler: Any, sfn: Any, state_machine_arn: str, lambda_context: FakeLambdaContext
) -> None:
    runs = []
    for version_id in ("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "UIORUnfndfhnw89493jJFJ.kFfbbvd"):
        event = load_event("s3_put_incoming.json")
        event["Records"][0]["s3"]["object"]["versionId"] = version_id
        runs.extend(handler.lambda_handler(event, lambda_context)["runs"])

    assert len({run["run_id"] for run in runs}) == 2
    executions = _executions(sfn, state_machine_arn)
    assert len(executions) == 2
    inputs = [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["run"]
        for e in executions
    ]
    assert {run["version_id"] for run in inputs} == {
        "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "UIORUnfndfhnw89493jJFJ.kFfbbvd",
    }


def test_throttling_is_a_transient_error(handler: Any, lambda_context: FakeLambdaContext) -> None:
    with Stubber(handler.sfn()) as stubber:
        stubber.add_client_error("start_execution", service_error_code="ThrottlingException")
        with pytest.raises(TransientError):
            handler.lambda_handler(load_event("s3_put_incoming.json"), lambda_context)
        stubber.assert_no_pending_responses()
