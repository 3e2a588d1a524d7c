"""record_live: the live pointer models/<model>/live.json."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sagepipe.registry import LivePointer

from .conftest import BUCKET, PREFIX, VERSION, FakeLambdaContext, HandlerLoader, load_event

LIVE_KEY = "models/housing/live.json"


def test_writes_the_live_pointer(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    handler = load_handler("record_live")
    result = handler.lambda_handler(load_event("sfn_record_live.json"), lambda_context)

    stored = s3.get_object(Bucket=BUCKET, Key=LIVE_KEY)
    assert stored["ContentType"] == "application/json"
    data = json.loads(stored["Body"].read())
    assert data == result
    assert {key: data[key] for key in ("model", "version", "endpoint", "variant")} == {
        "model": "housing",
        "version": VERSION,
        "endpoint": f"{PREFIX}-housing",
        "variant": f"v{VERSION}",
    }
    updated_at = datetime.fromisoformat(data["updated_at"])
    assert updated_at.utcoffset() is not None
    assert updated_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert LivePointer.from_json(json.dumps(data)).version == VERSION


def test_replaces_the_previous_pointer(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    previous = {
        "model": "housing",
        "version": "20261001000000-0f0f0f0f",
        "endpoint": f"{PREFIX}-housing",
        "variant": "v20261001000000-0f0f0f0f",
        "updated_at": "2026-10-01T00:30:00+00:00",
    }
    s3.put_object(Bucket=BUCKET, Key=LIVE_KEY, Body=json.dumps(previous).encode())

    load_handler("record_live").lambda_handler(load_event("sfn_record_live.json"), lambda_context)

    data = json.loads(s3.get_object(Bucket=BUCKET, Key=LIVE_KEY)["Body"].read())
    assert data["version"] == VERSION
    assert data["variant"] == f"v{VERSION}"


def test_writes_to_the_function_data_bucket(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.create_bucket(Bucket="other-data")
    handler = load_handler("record_live", DATA_BUCKET="other-data")
    handler.lambda_handler(load_event("sfn_record_live.json"), lambda_context)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="other-data")["Contents"]]
    assert keys == [LIVE_KEY]
