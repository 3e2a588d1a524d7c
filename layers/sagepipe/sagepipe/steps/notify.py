"""Announce a run's outcome on the notification topic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sagepipe.notification import Outcome, RunSummary, summarize
from sagepipe.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

_SUBJECT_MAX = 100


def _subject(text: str) -> str:
    """SNS rejects subjects with control characters or over 100 characters."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in text)
    return printable[:_SUBJECT_MAX]


def notify(
    outcome: Outcome,
    run: dict[str, Any],
    topic_arn: str,
    sns: SNSClient,
    *,
    evaluation: dict[str, Any] | None = None,
    deployment: dict[str, Any] | None = None,
    failure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    summary = summarize(
        outcome,
        str(run.get("model", "?")),
        str(run.get("run_id", "?")),
        metrics=(evaluation or {}).get("metrics"),
        gate_reason=(evaluation or {}).get("reason"),
        failure=failure,
        version=(deployment or {}).get("version"),
    )
    message_id = sns.publish(
        TopicArn=topic_arn,
        Subject=_subject(summary.subject),
        Message=json.dumps(_message(summary, evaluation), indent=2),
        MessageAttributes={
            "outcome": {"DataType": "String", "StringValue": outcome},
            "model": {"DataType": "String", "StringValue": summary.model},
        },
    )["MessageId"]
    logger.info("notified", extra={"outcome": outcome, "summary": summary.text})
    return {
        "message_id": message_id,
        "summary": summary.text,
        "error": summary.error,
        "cause": summary.cause,
    }


def _message(summary: RunSummary, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "summary": summary.text,
        "outcome": summary.outcome,
        "model": summary.model,
        "run_id": summary.run_id,
        "version": summary.version,
        "metrics": (evaluation or {}).get("metrics"),
        "deployed": summary.outcome == "deployed",
        "reason": (evaluation or {}).get("reason") if summary.cause is None else summary.cause,
    }
