"""`make demo`: the whole pipeline offline on the bundled diamonds sample.

Starts the offline stack, uploads the sample (minus a few rows kept aside), follows the
run step by step, prints the metrics, asks the prediction API about the rows kept aside
and prints the answers beside the true prices, then stops everything it started.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from sagepipe_local.runs import find_execution, http_json, upload, wait_for_execution

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "diamonds"
MODEL = "diamonds"
TARGET = "price"
HOLDOUT_ROWS = 8


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _split_holdout(source: Path, destination: Path) -> list[dict[str, str]]:
    """Keep a few random rows out of the upload, to ask the API about later."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    picked = set(random.Random(11).sample(range(len(rows)), HOLDOUT_ROWS))
    with destination.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(row for i, row in enumerate(rows) if i not in picked)
    return [rows[i] for i in sorted(picked)]


def _as_instance(row: dict[str, str], numeric: set[str]) -> dict[str, Any]:
    return {
        name: (float(value) if name in numeric else value)
        for name, value in row.items()
        if name != TARGET
    }


def run_demo(args: argparse.Namespace) -> int:
    from sagepipe_local.stack import LocalStack

    _say("sagepipe demo: the whole pipeline offline, on 5,000 diamond prices")
    with (
        tempfile.TemporaryDirectory(prefix="sagepipe-demo-") as work,
        LocalStack(port=args.port, api_port=args.api_port) as stack,
    ):
        _say(f"offline stack: AWS APIs at {stack.endpoint_url}, prediction API at {stack.api_url}")
        data = Path(work) / "diamonds.csv"
        holdout = _split_holdout(EXAMPLE / "diamonds.csv", data)
        s3, sfn = stack.client("s3"), stack.client("stepfunctions")
        upload(s3, stack.bucket, f"incoming/{MODEL}/pipeline.json", EXAMPLE / "pipeline.json")
        key = f"incoming/{MODEL}/diamonds.csv"
        version = upload(s3, stack.bucket, key, data)
        _say(f"uploaded s3://{stack.bucket}/{key} ({HOLDOUT_ROWS} rows kept aside)")
        execution = find_execution(sfn, stack.state_machine_arn, key, version)
        _say(f"run {execution.rsplit(':', 1)[-1]} started; steps:")
        result = wait_for_execution(
            sfn, execution, on_state=lambda name, at: _say(f"  {at:6.1f}s  {name}")
        )
        if result.status != "SUCCEEDED":
            _say(f"run {result.status}: {result.error}: {result.cause}")
            return 1
        evaluation = result.output.get("evaluation", {})
        metrics = evaluation.get("metrics", {})
        _say("held-out metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        _say(f"gate: {evaluation.get('reason')}")
        if not evaluation.get("deploy"):
            _say("the model was not deployed; nothing to predict with")
            return 1
        described = http_json(f"{stack.api_url}/models/{MODEL}")
        if described.status != 200:
            _say(f"GET /models/{MODEL} answered {described.status}: {described.body}")
            return 1
        numeric = {
            column["name"]
            for column in described.body["input"]["columns"]
            if column["type"] == "number"
        }
        answer = http_json(
            f"{stack.api_url}/predict/{MODEL}",
            {"instances": [_as_instance(row, numeric) for row in holdout]},
        )
        if answer.status != 200:
            _say(f"POST /predict/{MODEL} answered {answer.status}: {answer.body}")
            return 1
        _say(f"predictions from model version {answer.body['model']['version']}:")
        _say(f"  {'carat':>6} {'cut':>10} {'predicted':>10} {'true':>8}")
        errors = []
        for row, predicted in zip(holdout, answer.body["predictions"], strict=True):
            errors.append(predicted - float(row[TARGET]))
            _say(f"  {row['carat']:>6} {row['cut']:>10} {predicted:>10.0f} {row[TARGET]:>8}")
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        _say(f"RMSE on the {len(errors)} rows kept aside: {rmse:.0f}")
    _say("offline stack stopped")
    return 0
