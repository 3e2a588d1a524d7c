"""notify: the SNS message of a deployed, rejected or failed run (read through SQS)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from .conftest import REGION, RUN_ID, VERSION, FakeLambdaContext, HandlerLoader, load_event


@pytest.fixture
def topic(aws: None) -> tuple[str, Any, str]:
    """(topic ARN, SQS client, queue URL subscribed to the topic)."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn: str = sns.create_topic(Name="sagepipe-notifications")["TopicArn"]
    queue_url: str = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, sqs, queue_url


@pytest.fixture
def handler(load_handler: HandlerLoader, topic: tuple[str, Any, str]) -> Any:
    return load_handler("notify", TOPIC_ARN=topic[0])


def _published(topic: tuple[str, Any, str]) -> list[dict[str, Any]]:
    _, sqs, queue_url = topic
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def _attributes(notification: dict[str, Any]) -> dict[str, str]:
    return {name: value["Value"] for name, value in notification["MessageAttributes"].items()}


def test_deployed(
    handler: Any, topic: tuple[str, Any, str], lambda_context: FakeLambdaContext
) -> None:
    result = handler.lambda_handler(load_event("sfn_notify_deployed.json"), lambda_context)

    (notification,) = _published(topic)
    assert notification["Subject"] == "sagepipe housing: deployed"
    assert notification["MessageId"] == result["message_id"]
    assert _attributes(notification) == {"outcome": "deployed", "model": "housing"}
    message = json.loads(notification["Message"])
    assert message == {
        "summary": result["summary"],
        "outcome": "deployed",
        "model": "housing",
        "run_id": RUN_ID,
        "version": VERSION,
        "metrics": {"rmse": 1.0, "mae": 1.0, "r2": 0.875, "rows": 4, "baseline_rmse": 3.0},
        "deployed": True,
        "reason": "RMSE 1 beats the mean baseline 3",
    }
    assert f"deployed version {VERSION}" in result["summary"]
    assert result["error"] is None
    assert result["cause"] is None


def test_rejected(
    handler: Any, topic: tuple[str, Any, str], lambda_context: FakeLambdaContext
) -> None:
    result = handler.lambda_handler(load_event("sfn_notify_rejected.json"), lambda_context)

    (notification,) = _published(topic)
    assert notification["Subject"] == "sagepipe housing: not deployed"
    assert _attributes(notification)["outcome"] == "rejected"
    message = json.loads(notification["Message"])
    assert message["deployed"] is False
    assert message["version"] is None
    assert message["reason"] == "RMSE 3.5 does not beat the mean baseline 3"
    assert "the live model is unchanged" in message["summary"]
    assert result["error"] is None
    assert result["cause"] is None


def test_failed_returns_error_and_cause_for_the_fail_state(
    handler: Any, topic: tuple[str, Any, str], lambda_context: FakeLambdaContext
) -> None:
    result = handler.lambda_handler(load_event("sfn_notify_failed.json"), lambda_context)

    cause = (
        "Preprocess failed: s3://sagepipe-data/incoming/housing/data.csv: "
        "row 7, column 'price': not a number"
    )
    assert result["error"] == "InputDataError"
    assert result["cause"] == cause
    (notification,) = _published(topic)
    assert notification["Subject"] == "sagepipe housing: run failed"
    assert _attributes(notification) == {"outcome": "failed", "model": "housing"}
    message = json.loads(notification["Message"])
    assert message["deployed"] is False
    assert message["reason"] == cause
    assert message["metrics"] is None
    assert message["summary"] == (
        f"Model housing, run {RUN_ID}: FAILED, the live model is unchanged. {cause}"
    )


def test_failed_run_of_an_invalid_model_is_announced(
    handler: Any, topic: tuple[str, Any, str], lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_notify_failed.json")
    event["run"]["model"] = "My_Model"
    event["run"]["run_id"] = "invalid-model-20261120093000-1a2b3c4d"
    event["failure"]["cause"] = json.dumps({"errorMessage": "model name 'My_Model' is invalid"})

    result = handler.lambda_handler(event, lambda_context)

    assert result["cause"] == "Preprocess failed: model name 'My_Model' is invalid"
    (notification,) = _published(topic)
    assert notification["Subject"] == "sagepipe My_Model: run failed"


def test_subject_is_bounded(
    handler: Any, topic: tuple[str, Any, str], lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_notify_failed.json")
    event["run"]["model"] = "m" * 200  # an invalid model name from an S3 key
    handler.lambda_handler(event, lambda_context)
    (notification,) = _published(topic)
    assert len(notification["Subject"]) <= 100


def test_subject_with_control_characters_is_made_printable() -> None:
    from sagepipe.steps.notify import _subject

    assert _subject("sagepipe a\x07b\n: run failed") == "sagepipe a?b?: run failed"
    assert len(_subject("x" * 300)) == 100
