"""preprocess: pipeline.json + an uploaded CSV in S3 -> channels under runs/<model>/<run_id>/."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytest.importorskip("sagepipe.preprocess")

from sagepipe.contract import FeatureContract
from sagepipe.errors import ConfigError, InputDataError, TransientError
from sagepipe.layout import split_s3_uri
from sagepipe.steps.prepare import MULTIPART_THRESHOLD_BYTES

from .conftest import (
    BUCKET,
    RUN_ROOT,
    FakeLambdaContext,
    HandlerLoader,
    load_event,
)

DATA_KEY = "incoming/housing/data.csv"
CONFIG_KEY = "incoming/housing/pipeline.json"
ROWS = 40


def _csv(rows: int = ROWS, bad_price_row: int | None = None) -> bytes:
    lines = ["id,rooms,city,price"]
    for i in range(rows):
        rooms = i % 7 + 1
        city = "abc"[i % 3]
        price = "expensive" if i == bad_price_row else f"{rooms * 10 + (i % 3) * 5}.5"
        lines.append(f"house-{i},{rooms},{city},{price}")
    return ("\n".join(lines) + "\n").encode()


def _upload(s3: Any, data: bytes, config: dict[str, Any] | bytes | None) -> None:
    s3.put_object(Bucket=BUCKET, Key=DATA_KEY, Body=data)
    if config is not None:
        body = config if isinstance(config, bytes) else json.dumps(config).encode()
        s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=body)


def _read(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _keys(s3: Any, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"] for item in listed}


def test_channels_are_uploaded_under_the_run(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    data = _csv()
    _upload(s3, data, {"target": "price", "drop_columns": ["id"]})
    handler = load_handler("preprocess")

    result = handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)

    root = f"s3://{BUCKET}/{RUN_ROOT}"
    uris = {
        name: result[name]
        for name in (
            "train_uri",
            "validation_uri",
            "test_features_uri",
            "test_labels_uri",
            "schema_uri",
            "profile_uri",
        )
    }
    assert all(uri.startswith(root) for uri in uris.values()), uris
    assert uris["train_uri"].startswith(f"{root}data/train/train.")
    assert uris["validation_uri"].startswith(f"{root}data/validation/validation.")
    assert uris["test_features_uri"].startswith(f"{root}data/test/features.")
    assert uris["test_labels_uri"] == f"{root}data/test/labels.csv"
    assert uris["schema_uri"] == f"{root}schema.json"
    assert uris["profile_uri"] == f"{root}profile.json"
    # Everything written is under the run; nothing else was added.
    assert _keys(s3, RUN_ROOT) == {split_s3_uri(uri)[1] for uri in uris.values()}

    assert result["algorithm"] == "xgboost"
    assert result["content_type"] == "text/libsvm"
    assert result["config"]["target"] == "price"
    assert result["config"]["drop_columns"] == ["id"]
    assert sum(result["rows"][split] for split in ("train", "validation", "test")) == ROWS

    contract = FeatureContract.from_json(_read(s3, uris["schema_uri"]))
    assert contract.model == "housing"
    assert contract.target == "price"
    assert contract.content_type == "text/libsvm"
    assert contract.missing == "native"
    assert "id" not in contract.column_names
    assert "price" not in contract.column_names
    assert result["feature_count"] == len(contract.features)

    labels = _read(s3, uris["test_labels_uri"]).decode().splitlines()
    features = _read(s3, uris["test_features_uri"]).decode().splitlines()
    assert len(labels) == len(features) == result["rows"]["test"]
    train = _read(s3, uris["train_uri"]).decode().splitlines()
    assert len(train) == result["rows"]["train"]
    # The mean baseline of evaluate: the mean label of the training channel.
    train_labels = [float(line.replace(",", " ").split()[0]) for line in train]
    assert result["train_target_mean"] == pytest.approx(sum(train_labels) / len(train_labels))
    json.loads(_read(s3, uris["profile_uri"]))

    # The user's data is never modified or deleted.
    assert s3.get_object(Bucket=BUCKET, Key=DATA_KEY)["Body"].read() == data
    assert _keys(s3, "incoming/") == {DATA_KEY, CONFIG_KEY}


def test_linear_learner_channels_are_csv(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(), {"target": "price", "algorithm": "linear-learner", "drop_columns": ["id"]})
    result = load_handler("preprocess").lambda_handler(
        load_event("sfn_preprocess.json"), lambda_context
    )
    assert result["algorithm"] == "linear-learner"
    assert result["content_type"] == "text/csv"
    train = _read(s3, result["train_uri"]).decode().splitlines()
    labels = [float(line.split(",")[0]) for line in train]
    assert result["train_target_mean"] == pytest.approx(sum(labels) / len(labels))


def test_default_target_from_the_stack_without_pipeline_json(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(), None)
    handler = load_handler("preprocess", DEFAULT_TARGET="price")
    result = handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)
    assert result["config"]["target"] == "price"


def test_bad_csv_is_input_data_error(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(bad_price_row=6), {"target": "price"})
    handler = load_handler("preprocess")
    with pytest.raises(InputDataError) as raised:
        handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)
    message = str(raised.value)
    assert DATA_KEY in message
    assert "price" in message
    assert "expensive" in message
    assert _keys(s3, RUN_ROOT) == set()


def test_too_few_rows_is_input_data_error(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(rows=5), {"target": "price"})
    with pytest.raises(InputDataError, match="rows"):
        load_handler("preprocess").lambda_handler(load_event("sfn_preprocess.json"), lambda_context)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"target": "price", "test_fracton": 0.3}, "test_fracton"),
        ({"target": "price", "seed": "forty-two"}, "seed"),
        ({"target": "price", "algorithm": "random-forest"}, "algorithm"),
        ({"algorithm": "xgboost"}, "target"),
    ],
)
def test_bad_pipeline_json_is_config_error_naming_the_key(
    load_handler: HandlerLoader,
    s3: Any,
    lambda_context: FakeLambdaContext,
    config: dict[str, Any],
    key: str,
) -> None:
    _upload(s3, _csv(), config)
    with pytest.raises(ConfigError) as raised:
        load_handler("preprocess").lambda_handler(load_event("sfn_preprocess.json"), lambda_context)
    message = str(raised.value)
    assert f"'{key}'" in message
    assert CONFIG_KEY in message


def test_pipeline_json_that_is_not_json(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(), b"target: price\n")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_handler("preprocess").lambda_handler(load_event("sfn_preprocess.json"), lambda_context)


def test_target_not_in_the_file_is_config_error(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(), {"target": "value"})
    with pytest.raises(ConfigError, match="target"):
        load_handler("preprocess").lambda_handler(load_event("sfn_preprocess.json"), lambda_context)


def test_invalid_model_name_fails_the_run(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    event = load_event("sfn_preprocess.json")
    event["model"] = "My_Model"
    event["run_id"] = "invalid-model-20261120093000-1a2b3c4d"
    event["key"] = "incoming/My_Model/data.csv"
    with pytest.raises(InputDataError, match="model name 'My_Model' is invalid"):
        load_handler("preprocess").lambda_handler(event, lambda_context)


def test_object_gone_is_input_data_error(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=b'{"target": "price"}')
    with pytest.raises(InputDataError, match="no longer exists"):
        load_handler("preprocess").lambda_handler(load_event("sfn_preprocess.json"), lambda_context)


@pytest.mark.parametrize(
    "size", [2048, MULTIPART_THRESHOLD_BYTES], ids=["one-get-object", "transfer-manager"]
)
def test_the_run_reads_the_object_version_that_started_it(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext, size: int
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    _upload(s3, _csv(), {"target": "price", "drop_columns": ["id"]})
    version_id = s3.head_object(Bucket=BUCKET, Key=DATA_KEY)["VersionId"]
    s3.put_object(Bucket=BUCKET, Key=DATA_KEY, Body=b"a newer upload,of other data\n")
    handler = load_handler("preprocess")
    heads: list[str] = []
    handler.s3().meta.events.register(
        "before-call.s3.HeadObject", lambda **_: heads.append("HeadObject")
    )
    event = load_event("sfn_preprocess.json") | {"version_id": version_id, "size": size}

    result = handler.lambda_handler(event, lambda_context)

    assert sum(result["rows"][split] for split in ("train", "validation", "test")) == ROWS
    # Objects under the multipart threshold come in one GetObject; larger ones through
    # s3transfer, which looks at the object first.
    assert bool(heads) == (size >= MULTIPART_THRESHOLD_BYTES)


def test_object_version_gone_is_input_data_error(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    _upload(s3, _csv(), {"target": "price"})
    version_id = s3.head_object(Bucket=BUCKET, Key=DATA_KEY)["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key=DATA_KEY, VersionId=version_id)
    event = load_event("sfn_preprocess.json") | {"version_id": version_id}
    with pytest.raises(InputDataError, match="no longer exists"):
        load_handler("preprocess").lambda_handler(event, lambda_context)


def test_throttled_channel_upload_is_transient(
    load_handler: HandlerLoader, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    _upload(s3, _csv(), {"target": "price", "drop_columns": ["id"]})
    handler = load_handler("preprocess")

    def slow_down(**_: Any) -> None:
        error = {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}
        raise ClientError(error, "PutObject")

    handler.s3().meta.events.register("before-call.s3.PutObject", slow_down)
    with pytest.raises(TransientError, match="SlowDown"):
        handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)


@pytest.mark.parametrize("threshold", [MULTIPART_THRESHOLD_BYTES, 0], ids=["put", "s3transfer"])
def test_each_file_is_uploaded_once_with_the_bytes_written(
    load_handler: HandlerLoader,
    s3: Any,
    lambda_context: FakeLambdaContext,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    threshold: int,
) -> None:
    import sagepipe.steps.prepare as prepare_step

    monkeypatch.setattr(prepare_step, "MULTIPART_THRESHOLD_BYTES", threshold)
    _upload(s3, _csv(), {"target": "price", "drop_columns": ["id"]})
    handler = load_handler("preprocess")
    puts: list[str] = []
    handler.s3().meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: puts.append(params["Key"])
    )
    kept = tmp_path / "kept"
    original_preprocess = prepare_step.preprocess_file

    def preprocess_and_keep(*args: Any, **kwargs: Any) -> Any:
        result = original_preprocess(*args, **kwargs)
        shutil.copytree(kwargs["out_dir"], kept)
        return result

    monkeypatch.setattr(prepare_step, "preprocess_file", preprocess_and_keep)

    handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)

    assert sorted(puts) == sorted(_keys(s3, RUN_ROOT))
    for key in puts:
        written = (kept / key.removeprefix(RUN_ROOT)).read_bytes()
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == written


def _track_overlap(monkeypatch: pytest.MonkeyPatch, client: Any, method: str) -> list[int]:
    """Wraps client.<method>; the list holds how many calls ran at once, at most."""
    lock, active, most = threading.Lock(), [0], [0]
    original = getattr(client, method)

    def tracked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            time.sleep(0.02)  # widens each call so that overlapping ones would be seen
            return original(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(client, method, tracked)
    return most


def test_small_files_upload_side_by_side(
    load_handler: HandlerLoader,
    s3: Any,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _upload(s3, _csv(), {"target": "price", "drop_columns": ["id"]})
    handler = load_handler("preprocess")
    most = _track_overlap(monkeypatch, handler.s3(), "put_object")

    handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)

    assert most[0] > 1


def test_multipart_uploads_go_one_at_a_time(
    load_handler: HandlerLoader,
    s3: Any,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sagepipe.steps.prepare as prepare_step

    monkeypatch.setattr(prepare_step, "MULTIPART_THRESHOLD_BYTES", 0)
    _upload(s3, _csv(), {"target": "price", "drop_columns": ["id"]})
    handler = load_handler("preprocess")
    most = _track_overlap(monkeypatch, handler.s3(), "upload_file")

    handler.lambda_handler(load_event("sfn_preprocess.json"), lambda_context)

    assert most[0] == 1
    assert len(_keys(s3, RUN_ROOT)) == 6
