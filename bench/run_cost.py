"""An AWS cost estimate for one run, from what an offline run of the sample measures.

Measured here: each function's invocations, billed duration and configured memory (the
Lambda workers' REPORT lines), and the Step Functions state transitions outside the
polling loops. Not measurable offline, so stated as assumptions: how long SageMaker's
instances bill for (start-up included), and so how long the status checks wait: with
the template's StatusWaitSeconds and PollSeconds, each check cycle is one JobStatus
invocation waiting StatusWaitSeconds, then a Wait state of PollSeconds. Prices: us-east-1
on-demand list prices; check the pricing pages.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1_000_000
STATE_TRANSITION = 0.025 / 1000  # Standard workflows
ML_M5_LARGE_HOUR = 0.115  # training, batch transform and hosting (assumption: list price)
# Assumed billed minutes per run on AWS (instance start-up included).
TRAINING_MINUTES = 4.0
TRANSFORM_MINUTES = 6.0
UPDATE_OVERLAP_MINUTES = 9.0  # blue/green: the new instance runs beside the old one
POLL_LOOP_STATES = 3  # Check, Choice, Wait per check cycle
REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "diamonds"
REPORT = re.compile(r"Billed Duration: (\d+) ms\tMemory Size: (\d+) MB")
LOOP_STATES = {"WaitFor", "Check"}


def measure_offline_run() -> tuple[dict[str, tuple[int, float]], int]:
    """Per function: (invocations, GB-seconds); and transitions outside polling loops."""
    from sagepipe_local.runs import find_execution, upload, wait_for_execution
    from sagepipe_local.stack import LocalStack

    with (
        tempfile.TemporaryDirectory() as work,
        LocalStack(port=0, api_port=0, work_dir=Path(work)) as stack,
    ):
        s3, sfn = stack.client("s3"), stack.client("stepfunctions")
        upload(s3, stack.bucket, "incoming/diamonds/pipeline.json", EXAMPLE / "pipeline.json")
        key = "incoming/diamonds/diamonds.csv"
        version = upload(s3, stack.bucket, key, EXAMPLE / "diamonds.csv")
        result = wait_for_execution(sfn, find_execution(sfn, stack.state_machine_arn, key, version))
        if result.status != "SUCCEEDED":
            raise RuntimeError(f"offline run {result.status}: {result.cause}")
        assert stack.runtime is not None
        usage: dict[str, tuple[int, float]] = {}
        for log in stack.runtime.log_dir.glob("*.log"):
            reports = REPORT.findall(log.read_text())
            gb_seconds = sum(int(ms) / 1000 * int(mb) / 1024 for ms, mb in reports)
            usage[log.stem] = (len(reports), gb_seconds)
        outside_loops = sum(
            1 for name in result.states if not any(name.startswith(p) for p in LOOP_STATES)
        )
    return usage, outside_loops


def status_checks() -> tuple[int, int, float]:
    """The template's StatusWaitSeconds, PollSeconds and JobStatus memory (GB)."""
    from sagepipe_local.template_loader import load_template

    template = load_template(REPO / "template.yaml")
    parameters = template["Parameters"]
    memory_mb = template["Resources"]["JobStatusFunction"]["Properties"]["MemorySize"]
    return (
        int(parameters["StatusWaitSeconds"]["Default"]),
        int(parameters["PollSeconds"]["Default"]),
        int(memory_mb) / 1024,
    )


def run(log: logging.Logger, _row: Callable[..., str]) -> None:
    usage, outside_loops = measure_offline_run()
    status_wait, poll_seconds, status_memory_gb = status_checks()
    waited_seconds = 60 * (TRAINING_MINUTES + TRANSFORM_MINUTES + UPDATE_OVERLAP_MINUTES)
    polls = waited_seconds / (status_wait + poll_seconds)
    # The offline run's checks barely wait; on AWS they wait out the jobs.
    invocations = sum(count for count, _ in usage.values()) + round(polls)
    gb_seconds = sum(seconds for _, seconds in usage.values())
    gb_seconds += polls * status_wait * status_memory_gb
    transitions = outside_loops + polls * POLL_LOOP_STATES
    lambda_cost = gb_seconds * LAMBDA_GB_SECOND + invocations * LAMBDA_REQUEST
    sfn_cost = transitions * STATE_TRANSITION
    sagemaker_minutes = TRAINING_MINUTES + TRANSFORM_MINUTES + UPDATE_OVERLAP_MINUTES
    sagemaker_cost = sagemaker_minutes / 60 * ML_M5_LARGE_HOUR
    log.info("cost of one run on AWS (diamonds sample, XGBoost, ml.m5.large), us-east-1:")
    log.info(
        "  Lambda: %d invocations, %.1f GB-s (measured offline, plus ~%d status checks "
        "waiting StatusWaitSeconds=%d each) -> $%.5f",
        invocations,
        gb_seconds,
        round(polls),
        status_wait,
        lambda_cost,
    )
    log.info(
        "  Step Functions: %d transitions outside polling (measured) + ~%d polling "
        "(StatusWaitSeconds=%d, PollSeconds=%d) -> $%.5f",
        outside_loops,
        polls * POLL_LOOP_STATES,
        status_wait,
        poll_seconds,
        sfn_cost,
    )
    log.info(
        "  SageMaker: ~%.0f instance-minutes (training %.0f, transform %.0f, blue/green "
        "overlap %.0f; assumed) -> $%.4f",
        sagemaker_minutes,
        TRAINING_MINUTES,
        TRANSFORM_MINUTES,
        UPDATE_OVERLAP_MINUTES,
        sagemaker_cost,
    )
    log.info("  total per run: ~$%.3f", lambda_cost + sfn_cost + sagemaker_cost)
    log.info(
        "  plus the live endpoint itself: $%.0f/month per ml.m5.large instance",
        ML_M5_LARGE_HOUR * 730,
    )
    log.info("  per function (invocations, GB-s): %s", json.dumps(
        {name: [count, round(seconds, 2)] for name, (count, seconds) in sorted(usage.items())}
    ))  # fmt: skip
