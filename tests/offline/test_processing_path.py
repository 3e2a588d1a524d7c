"""The processing path end to end: an upload above ProcessingThresholdMB, offline.

The product's template runs with the threshold overridden to 0 MiB, so every upload is
"large": the run goes ChoosePreprocessing -> StartProcessing -> CheckProcessing ->
CollectProcessing -> training ..., the processing job runs sagepipe's own bundle in the
emulator, and the model it leads to answers over HTTP like any other.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sagepipe_local.runs import find_execution, http_json, upload, wait_for_execution
from sagepipe_local.stack import DEFAULT_TEMPLATE, LocalStack

pytestmark = pytest.mark.offline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "diamonds" / "diamonds.csv"
MODEL = "gems"
ROWS = 900
KEPT_ASIDE = 3

StackFactory = Callable[..., LocalStack]


def _sample(destination: Path) -> list[dict[str, str]]:
    """The first rows of the diamonds sample, minus a few kept aside for predictions."""
    with EXAMPLE.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
    with destination.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows[KEPT_ASIDE:])
    return rows[:KEPT_ASIDE]


def _instance(row: dict[str, str]) -> dict[str, Any]:
    text = {"cut", "color", "clarity"}
    return {k: (v if k in text else float(v)) for k, v in row.items() if k != "price"}


def test_an_upload_above_the_threshold_is_preprocessed_by_a_processing_job(
    offline_stack_factory: StackFactory, tmp_path: Path
) -> None:
    stack = offline_stack_factory(
        template=DEFAULT_TEMPLATE, parameter_overrides={"ProcessingThresholdMB": "0"}
    )
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    settings = {"target": "price", "hyperparameters": {"num_round": 40}}
    s3.put_object(
        Bucket=stack.bucket,
        Key=f"incoming/{MODEL}/pipeline.json",
        Body=json.dumps(settings).encode(),
    )
    data = tmp_path / "gems.csv"
    kept_aside = _sample(data)
    key = f"incoming/{MODEL}/gems.csv"

    version = upload(s3, stack.bucket, key, data)
    execution = find_execution(sfn, stack.state_machine_arn, key, version)
    result = wait_for_execution(sfn, execution, timeout=120)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.states[:3] == ["ChoosePreprocessing", "StartProcessing", "CheckProcessing"]
    assert "Preprocess" not in result.states
    assert result.states.index("CollectProcessing") < result.states.index("StartTraining")
    assert result.states[-1] == "Deployed"
    output = result.output
    run = output["run"]
    assert run["processing_threshold_bytes"] == 0
    assert output["processing_status"]["state"] == "SUCCEEDED"
    # What training got is the record the job wrote, naming the files it wrote.
    prepared_key = f"runs/{MODEL}/{run['run_id']}/prepared.json"
    written = json.loads(s3.get_object(Bucket=stack.bucket, Key=prepared_key)["Body"].read())
    assert output["prepared"] == written
    assert written["rows"]["input"] == ROWS - KEPT_ASIDE
    for uri in (written["train_uri"], written["schema_uri"], written["test_features_uri"]):
        head = s3.head_object(Bucket=stack.bucket, Key=uri.split("/", 3)[3])
        assert head["ContentLength"] > 0
    # The copy the job read is exactly the uploaded object.
    copied = s3.get_object(
        Bucket=stack.bucket, Key=f"runs/{MODEL}/{run['run_id']}/processing/data/gems.csv"
    )
    assert copied["Body"].read() == data.read_bytes()

    answer = http_json(
        f"{stack.api_url}/predict/{MODEL}",
        {"instances": [_instance(row) for row in kept_aside]},
    )
    assert answer.status == 200, answer.body
    predictions = answer.body["predictions"]
    assert len(predictions) == KEPT_ASIDE
    assert all(isinstance(value, float) and value > 0 for value in predictions)
