"""The choice between the preprocess Lambda and a SageMaker Processing job, run by moto.

start_run writes `processing_threshold_bytes` into the run; ChoosePreprocessing sends a
run whose object is larger to StartProcessing -> CheckProcessing (-> WaitForProcessing ->
CheckProcessing while it runs) ->
CollectProcessing, which returns the same Prepared record at $.prepared that Preprocess
would, so training goes on unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from .conftest import Behaviour, Event, Pipeline, load_event
from .test_pipeline import PREPARED, RUN_ID, _status, happy_path, job_status_script

PROCESSING_JOB = f"{RUN_ID}-pp"
PROCESSING = {
    "job_name": PROCESSING_JOB,
    "image": (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    ),
    "instance_type": "ml.m5.xlarge",
    "prepared_uri": f"s3://sagepipe-data/runs/housing/{RUN_ID}/prepared.json",
}
THRESHOLD = 1_000_000


def _run_input(size: int, threshold: int | None = THRESHOLD) -> Event:
    execution_input = copy.deepcopy(load_event("statemachine_input.json"))
    execution_input["run"]["size"] = size
    if threshold is not None:
        execution_input["run"]["processing_threshold_bytes"] = threshold
    return execution_input


def _answers(*answers: Event) -> Iterator[Event]:
    yield from answers
    while True:
        yield answers[-1]


def _job_status(processing: tuple[Event, ...]) -> Behaviour:
    """job_status answering the processing kind from `processing`, the rest as usual."""
    others = job_status_script()
    answers = _answers(*processing)

    def job_status(event: Event) -> Event:
        if event["kind"] == "processing":
            return next(answers)
        result: Event = others(event)
        return result

    return job_status


@pytest.fixture
def scripted(pipeline: Pipeline) -> Pipeline:
    pipeline.lambdas.behaviours.update(happy_path())
    pipeline.lambdas.behaviours.update(
        {
            "start_processing": lambda event: PROCESSING,
            "collect_processing": lambda event: PREPARED,
            "job_status": _job_status(
                (_status("RUNNING", "InProgress"), _status("SUCCEEDED", "Completed"))
            ),
        }
    )
    return pipeline


@pytest.mark.parametrize(
    ("size", "threshold"),
    [(THRESHOLD - 1, THRESHOLD), (THRESHOLD, THRESHOLD), (10**12, None)],
    ids=["below", "equal", "no-threshold"],
)
def test_inputs_up_to_the_threshold_take_the_lambda(
    scripted: Pipeline, size: int, threshold: int | None
) -> None:
    execution_input = _run_input(size, threshold)

    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    states = result.states_entered()
    assert states[:3] == ["ChoosePreprocessing", "Preprocess", "StartTraining"]
    assert "StartProcessing" not in states
    assert scripted.lambdas.calls_to("preprocess") == [execution_input["run"]]
    assert scripted.lambdas.calls_to("start_processing") == []


def test_inputs_above_the_threshold_take_the_processing_job(scripted: Pipeline) -> None:
    execution_input = _run_input(THRESHOLD + 1)
    run = execution_input["run"]

    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    states = result.states_entered()
    assert states[:8] == [
        "ChoosePreprocessing",
        "StartProcessing",
        "CheckProcessing",
        "ProcessingDone",
        "WaitForProcessing",
        "CheckProcessing",
        "ProcessingDone",
        "CollectProcessing",
    ]
    assert states[8] == "StartTraining"
    assert states[-1] == "Deployed"
    calls = scripted.lambdas.calls_to
    assert calls("preprocess") == []
    assert calls("start_processing") == [{"run": run}]
    processing_checks = [c for c in calls("job_status") if c["kind"] == "processing"]
    assert processing_checks == [
        {"kind": "processing", "name": PROCESSING_JOB, "run_id": RUN_ID},
        {"kind": "processing", "name": PROCESSING_JOB, "run_id": RUN_ID},
    ]
    assert calls("collect_processing") == [{"run": run, "processing": PROCESSING}]
    # Training gets what CollectProcessing returned, exactly where Preprocess puts it.
    assert calls("start_training") == [{"run": run, "prepared": PREPARED}]
    output = result.output
    assert output is not None
    assert output["processing"] == PROCESSING
    assert output["processing_status"] == _status("SUCCEEDED", "Completed")
    assert output["prepared"] == PREPARED


def test_a_failed_processing_job_fails_the_run_with_its_reason(scripted: Pipeline) -> None:
    reason = "InputDataError: s3://sagepipe-data/incoming/housing/data.csv: row 7 has 3 fields"
    scripted.lambdas.behaviours["job_status"] = _job_status(
        (_status("RUNNING", "InProgress"), _status("FAILED", "Failed", reason))
    )
    execution_input = _run_input(THRESHOLD + 1)

    result = scripted.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "ProcessingJobFailed"
    assert result.cause == f"processing failed: {reason}"
    assert result.states_entered()[-3:] == ["ProcessingJobFailed", "NotifyFailed", "RunFailed"]
    assert scripted.lambdas.calls_to("collect_processing") == []
    assert scripted.lambdas.calls_to("start_training") == []
    assert scripted.lambdas.calls_to("notify") == [
        {
            "outcome": "failed",
            "run": execution_input["run"],
            "failure": {"step": "processing", "error": "ProcessingJobFailed", "cause": reason},
        }
    ]


def test_a_failing_collect_step_fails_the_run_naming_it(scripted: Pipeline) -> None:
    class ProcessingOutputError(Exception):
        pass

    def collect(event: Event) -> Event:
        raise ProcessingOutputError("prepared.json is missing")

    scripted.lambdas.behaviours["collect_processing"] = collect

    result = scripted.run(_run_input(THRESHOLD + 1))

    assert result.status == "FAILED"
    assert result.error == "ProcessingOutputError"
    assert result.cause == "collect_processing failed: prepared.json is missing"


def test_a_preprocess_lambda_out_of_memory_falls_back_to_a_processing_job(
    scripted: Pipeline,
) -> None:
    # Step Functions reports an out-of-memory or timed-out function as Lambda.Unknown.
    out_of_memory = type("Lambda.Unknown", (Exception,), {})

    def preprocess(event: Event) -> Event:
        raise out_of_memory("Runtime exited with error: signal: killed")

    scripted.lambdas.behaviours["preprocess"] = preprocess
    execution_input = _run_input(THRESHOLD - 1)

    result = scripted.run(execution_input)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    states = result.states_entered()
    assert states[:3] == ["ChoosePreprocessing", "Preprocess", "StartProcessing"]
    assert "CollectProcessing" in states
    assert scripted.lambdas.calls_to("start_processing") == [{"run": execution_input["run"]}]
    output = result.output
    assert output is not None
    assert output["preprocess_error"]["Error"] == "Lambda.Unknown"
    assert "failure" not in output
